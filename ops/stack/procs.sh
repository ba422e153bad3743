# shellcheck shell=bash
# Process helpers that ops/stack/stack.sh and ops/stack/cluster.sh share (sourced, never run).
# The sourcing script sets WHO (the prefix of its messages) first.

say() { printf '%s: %s\n' "$WHO" "$*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH: $2"; }

proc_state() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }
gone() { [[ ! -e /proc/$1 || $(proc_state "$1") == Z ]]; }

# wait_gone PID SECONDS: until the process is gone (or a zombie); 1 if it outlived the wait.
wait_gone() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    gone "$1" && return 0
    sleep 0.1
  done
  return 1
}

# kill_hard LABEL PID PIDFILE: SIGKILL the process group (or the process), no shutdown of any
# kind; its pid file goes.
kill_hard() {
  kill -KILL -- "-$2" 2>/dev/null || kill -KILL "$2"
  wait_gone "$2" 10 || die "$1 (pid $2) survived SIGKILL"
  rm -f "$3"
  say "killed $1 (pid $2)"
}
