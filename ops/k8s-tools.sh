#!/usr/bin/env bash
# Tools that validate the Kubernetes deployment offline (tests/integration/test_helm_chart.py):
# Helm, built from its module on the Go module proxy into .local/bin/helm (git-ignored).
# The object schemas come from the kubernetes-validate wheel in the venv (uv.lock).
#
# Idempotent: does nothing when .local/bin/helm already reports HELM_VERSION. The build
# (about 4 minutes on 2 cores) needs Go >= 1.26 on PATH; nothing runs a server or needs a cluster.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL=$ROOT/.local
HELM=$LOCAL/bin/helm
HELM_VERSION=v3.22.0
# Helm's own release build stamps these (its Makefile): the version `helm version` reports,
# and the Kubernetes version `helm template` and `helm lint` assume without a cluster
# (client-go v0.37 -> 1.37; unstamped it would be 1.20).
K8S_MAJOR=1
K8S_MINOR=37

log() { printf 'k8s-tools: %s\n' "$*" >&2; }

installed_version() {
  [[ -x $HELM ]] && "$HELM" version --template '{{.Version}}' 2>/dev/null || true
}

if [[ $(installed_version) == "$HELM_VERSION" ]]; then
  exit 0
fi

command -v go >/dev/null 2>&1 || {
  log "'go' not found on PATH: install Go 1.26 or later (https://go.dev/dl or your distribution) and run again"
  exit 1
}

log "building helm $HELM_VERSION into $HELM (go install; a few minutes)"
mkdir -p "$LOCAL/bin"
ldflags="-w -s"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
ldflags+=" -X helm.sh/helm/v3/internal/version.metadata="
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $pkg.k8sVersionMajor=$K8S_MAJOR -X $pkg.k8sVersionMinor=$K8S_MINOR"
done
# Go's own module and build caches (as for FerretDB in ops/stack/stack.sh): a second
# checkout on the same machine builds in seconds; only the binary lands in .local/bin.
GOBIN=$LOCAL/bin GOFLAGS=-modcacherw CGO_ENABLED=0 \
  go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"

got=$(installed_version)
if [[ $got != "$HELM_VERSION" ]]; then
  log "built $HELM but it reports version '${got:-?}', not $HELM_VERSION"
  exit 1
fi
log "helm $got ready"
