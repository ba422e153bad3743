#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests (Playwright drives it by
# path; nothing is downloaded by Playwright itself). Idempotent: does nothing when present.
set -euo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
  echo "browser.sh: $CHROMIUM is missing; install Debian's chromium (apt-get install chromium)" >&2
  exit 1
fi
echo "browser.sh: installing Debian's chromium (first time only)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x "$CHROMIUM"
