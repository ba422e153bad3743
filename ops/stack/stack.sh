#!/usr/bin/env bash
# Local stack for release gate: a real Apache Kafka broker (KRaft, broker+controller, jars
# from Maven Central via ops/stack/kafka/pom.xml) and a MongoDB-wire store (mongod when it is
# on PATH, else FerretDB v1.24.2 built from source with its SQLite backend). Everything binds
# to 127.0.0.1; jars, builds, data, logs and pid files live under .local/ (git-ignored).
#
#   stack.sh up                  start what is not running, wait until each server answers
#   stack.sh down                stop both (SIGTERM, then SIGKILL); leaves no process behind
#   stack.sh status              what runs and whether it answers (exit 0 only if both answer)
#   stack.sh run -- CMD [ARG...] up what is missing, run CMD with KAFKA_BOOTSTRAP_SERVERS and
#                                MONGODB_URL exported (and STACK_KAFKA_SASL_SSL, the SASL_SSL
#                                listener, and STACK_KAFKA_SECRETS, the directory of its CA
#                                and passwords), exit with CMD's status. Servers a `run`
#                                started stop when the last concurrent `run` ends; servers
#                                started by `up` (e.g. for `make run`) are never stopped by it.
#   For fault tests (each waits until it is done):
#   stack.sh kill-kafka|kill-store     SIGKILL one server, no shutdown of any kind
#   stack.sh stop-kafka|stop-store     graceful stop of one server
#   stack.sh start-kafka|start-store   start it again and wait until it answers
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_TLS_PORT
# (KAFKA_PORT+2: the SASL_SSL listener), STORE_PORT (27017), STACK_START_TIMEOUT (120 s per
# server), STACK_STOP_TIMEOUT (60 s before SIGKILL).
# Kafka has a PLAINTEXT listener (no authentication; User:ANONYMOUS is a super user) and a
# SASL_SSL one (SCRAM-SHA-512, ACLs): certificates and passwords are made at start, once, in
# .local/run/kafka-security/ (ops/stack/kafka/security.py; docs/security.md#the-local-stack).
# Logs: .local/logs/kafka.log and .local/logs/store.log.

# shellcheck disable=SC2317 # some functions run indirectly ("start_$name") or from traps
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/ops/stack
LOCAL=$ROOT/.local
RUN=$LOCAL/run
LOGS=$LOCAL/logs
DATA=$LOCAL/data
PY=$ROOT/.venv/bin/python
FERRETDB_VERSION=v1.24.2
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
# Not KAFKA_SASL_*: the service refuses unknown variables under that prefix (service/settings.py).
KAFKA_TLS_PORT=${KAFKA_TLS_PORT:-$((KAFKA_PORT + 2))}
STORE_PORT=${STORE_PORT:-27017}
START_TIMEOUT=${STACK_START_TIMEOUT:-120}
STOP_TIMEOUT=${STACK_STOP_TIMEOUT:-60}
KAFKA_ADDR=127.0.0.1:$KAFKA_PORT
KAFKA_TLS_ADDR=127.0.0.1:$KAFKA_TLS_PORT
KAFKA_SECRETS=$RUN/kafka-security
STORE_URL=mongodb://127.0.0.1:$STORE_PORT
# Fixed, valid KRaft cluster id (base64url of 16 bytes): one dev cluster per checkout.
KAFKA_CLUSTER_ID=cmVsZWFzZS1nYXRlLWRldg

WHO=stack
# shellcheck source=ops/stack/procs.sh
source "$HERE/procs.sh"

# One stack.sh at a time changes the stack. Servers must not inherit fd 9 (see spawn).
lock() {
  exec 9>"$RUN/stack.lock"
  flock -w 600 9 || die "another stack.sh still holds $RUN/stack.lock"
}
unlock() { exec 9>&-; }

pidfile() { printf '%s/%s.pid' "$RUN" "$1"; }
log_of() { printf '%s/%s.log' "$LOGS" "$1"; }
addr_of() { if [[ $1 == kafka ]]; then echo "$KAFKA_ADDR"; else echo "$STORE_URL"; fi; }

# Prints the pid of a server this script started if it still runs. The command line must
# name our .local/ path, so a recycled pid is never mistaken for our server.
live_pid() {
  local f pid
  f=$(pidfile "$1")
  [[ -f $f ]] && pid=$(<"$f") && [[ $pid =~ ^[0-9]+$ ]] || return 1
  ! gone "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$LOCAL/" || return 1
  echo "$pid"
}

# answers NAME [TIMEOUT [PID]]: a real request (Kafka metadata, store ping) succeeds.
answers() {
  "$PY" "$HERE/probe.py" "$1" "$(addr_of "$1")" --timeout "${2:-0}" ${3:+--pid "$3"}
}

# spawn NAME CMD...: start a server in its own session (Ctrl-C on `run` must not reach it,
# and the whole group can be signalled). The child writes its own pid, since setsid may fork.
spawn() {
  local name=$1 pidf log i
  shift
  pidf=$(pidfile "$name")
  log=$(log_of "$name")
  rm -f "$pidf"
  printf '\n=== %s started by stack.sh at %s ===\n' "$name" "$(date -Is)" >>"$log"
  # shellcheck disable=SC2016 # $$ and $@ belong to the child shell
  setsid bash -c 'echo $$ >"$0"; exec nohup "$@"' "$pidf" "$@" </dev/null >>"$log" 2>&1 9>&- &
  disown "$!" # a `run` outlives kill-* of its servers: no "Killed" job notice, please
  for ((i = 0; i < 100; i++)); do
    [[ -s $pidf ]] && break
    sleep 0.05
  done
  [[ -s $pidf ]] || die "could not start $name; read $log"
}

await_answer() {
  local name=$1 pid rc=0
  pid=$(<"$(pidfile "$name")")
  answers "$name" "$START_TIMEOUT" "$pid" || rc=$?
  case $rc in
    0) say "$name answers on $(addr_of "$name") (pid $pid)" ;;
    2)
      rm -f "$(pidfile "$name")"
      die "$name exited while starting; read $(log_of "$name")"
      ;;
    *)
      stop_one "$name"
      die "$name did not answer on $(addr_of "$name") within ${START_TIMEOUT}s (stopped it); read $(log_of "$name")"
      ;;
  esac
}

provision_kafka() {
  local libs=$LOCAL/kafka/libs stamp
  stamp=$(sha256sum "$HERE/kafka/pom.xml" | cut -d' ' -f1)
  [[ -f $LOCAL/kafka/pom.sha256 && $(<"$LOCAL/kafka/pom.sha256") == "$stamp" ]] && return 0
  need mvn "install Maven 3 (Debian: apt-get install maven); it fetches the Kafka jars"
  say "fetching Kafka jars from Maven Central into $libs (first time only)"
  rm -rf "$libs.tmp"
  mvn -q -B -f "$HERE/kafka/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$libs.tmp" >"$LOGS/maven.log" 2>&1 ||
    die "Maven could not fetch the Kafka jars; read $LOGS/maven.log"
  rm -rf "$libs"
  mv "$libs.tmp" "$libs"
  echo "$stamp" >"$LOCAL/kafka/pom.sha256"
}

kafka_version() {
  local jar
  jar=$(compgen -G "$LOCAL/kafka/libs/kafka_2.13-*.jar" | head -1) || true
  jar=${jar##*/kafka_2.13-}
  echo "${jar%.jar}"
}

# The SCRAM users exist from the storage's format on (StorageTool --add-scram), before any
# listener opens. Storage formatted for other users or passwords (or before SASL_SSL was
# added, as a checkout's older .local/data/kafka) is formatted again: its data is dropped.
format_kafka() {
  local conf=$1 stamp=$DATA/kafka.format-stamp want out rc=0 scram=() line
  shift
  want=$("$PY" "$HERE/kafka/security.py" format-stamp "$KAFKA_SECRETS")
  if [[ -f $DATA/kafka/meta.properties && $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
    say "re-formatting Kafka storage in $DATA/kafka: it lacks the SCRAM users of $KAFKA_SECRETS (its data is dropped)"
    rm -rf "$DATA/kafka"
    mkdir -p "$DATA/kafka"
  fi
  [[ -f $DATA/kafka/meta.properties ]] && return 0
  rm -f "$stamp" "$DATA/kafka.acl-stamp"
  while IFS= read -r line; do scram+=(--add-scram "$line"); done \
    < <("$PY" "$HERE/kafka/security.py" scram-args "$KAFKA_SECRETS")
  say "formatting Kafka storage in $DATA/kafka with the SCRAM users"
  # StorageTool prints each user's salt and salted password: keep its output out of the log.
  out=$("$@" kafka.tools.StorageTool format --config "$conf" --cluster-id "$KAFKA_CLUSTER_ID" \
    --ignore-formatted "${scram[@]}" 2>&1) || rc=$?
  if ((rc)); then
    grep -iv -e scram -e salt -e password <<<"$out" >>"$(log_of kafka)" || true
    die "formatting Kafka storage failed; read $(log_of kafka)"
  fi
  echo "$want" >"$stamp"
}

# ACLs of the SASL_SSL principals, added once per formatted storage over the PLAINTEXT
# listener (as the super user User:ANONYMOUS) with Kafka's own AclCommand.
grant_kafka_acls() {
  local stamp=$DATA/kafka.acl-stamp want line args
  want=$("$PY" "$HERE/kafka/security.py" acl-stamp)
  [[ $(cat "$stamp" 2>/dev/null) == "$want" ]] && return 0
  say "adding the ACLs of the SASL_SSL principals (ops/stack/kafka/security.py)"
  while IFS= read -r line; do
    read -r -a args <<<"$line"
    if ! "$@" org.apache.kafka.tools.AclCommand --bootstrap-server "$KAFKA_ADDR" "${args[@]}" \
      >>"$(log_of kafka)" 2>&1; then
      stop_one kafka
      die "adding Kafka ACLs failed (stopped Kafka); read $(log_of kafka)"
    fi
  done < <("$PY" "$HERE/kafka/security.py" acls)
  echo "$want" >"$stamp"
}

start_kafka() {
  need java "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
  local major conf=$LOCAL/kafka/server.properties cp="$LOCAL/kafka/libs/*"
  local jvm=(java -Xmx512m -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.properties" -cp "$cp")
  # The one-shot tools (StorageTool, AclCommand): a small heap, no JIT tiers beyond C1.
  local tool=(java -Xmx128m -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.properties" -cp "$cp")
  major=$(java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -1)
  ((${major:-0} >= 17)) || die "Kafka 4 needs Java 17+, found: $(java -version 2>&1 | head -1)"
  provision_kafka
  "$PY" "$HERE/kafka/security.py" prepare "$KAFKA_SECRETS" ||
    die "could not make the certificates and passwords in $KAFKA_SECRETS"
  mkdir -p "$DATA/kafka"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    -e "s|@TLS_PORT@|$KAFKA_TLS_PORT|g" -e "s|@TLS_DIR@|$KAFKA_SECRETS|g" \
    -e "s|@LOG_DIRS@|$DATA/kafka|g" "$HERE/kafka/server.properties.in" >"$conf"
  format_kafka "$conf" "${tool[@]}"
  say "starting Apache Kafka $(kafka_version) on $KAFKA_ADDR (PLAINTEXT) and $KAFKA_TLS_ADDR (SASL_SSL)"
  spawn kafka "${jvm[@]}" kafka.Kafka "$conf"
  await_answer kafka
  grant_kafka_acls "${tool[@]}"
}

# `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` alone gives a binary that
# panics at start: the module zip lacks the generated build/version/version.txt. So build
# the same module source from a copy that has it, with one change of ours:
#
# The SQLite backend indexes _id as `_ferretdb_sjson->"_id"` but queries it as
# `_ferretdb_sjson->'$._id'`. SQLite evaluates both alike (a bare label after -> means
# '$.label') but plans an index only for the expression it was built on, so every lookup,
# update and delete by _id scanned the whole table (0.4 s per lookup at 100 k documents,
# measured). Querying with the index's own form makes them index searches.
#
# And one addition: the backend pushes down only `{_id: <string>}`, so a find of several
# documents by `{_id: {$in: [...]}}` (one round trip, served by the _id index on MongoDB)
# scanned the table here. id_in.go turns such a filter into `WHERE <id> IN (?, ...)`, a
# search of the same index; FerretDB's handler filters every document it gets back again,
# so the result is the same with or without it. Its explain reports `filterPushdown` for
# it, which tests/integration/test_store_statements.py checks.
FERRETDB_BUILD="$FERRETDB_VERSION+id-index+id-in"
ferretdb_id_index_fix() {
  local file=$1/internal/backends/sqlite/metadata/metadata.go
  sed -i "s|IDColumn = DefaultColumn + \"->'\\\$._id'\"|IDColumn = DefaultColumn + \"->'_id'\"|" "$file"
  grep -q "IDColumn = DefaultColumn + \"->'_id'\"" "$file" ||
    die "FerretDB's IDColumn is not where stack.sh expects it; read $file"
}

ferretdb_id_in_pushdown() {
  local dir=$1/internal/backends/sqlite
  cat >"$dir/id_in.go" <<'GO'
package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// idInLimit keeps the statement far below SQLite's limit on bound parameters.
const idInLimit = 1000

// idInWhere returns the WHERE clause and its arguments for the _id condition
// {$in: [string or ObjectID, ...]}, or "" when the condition has any other shape.
// Added by ops/stack/stack.sh of the release gate.
func idInWhere(cond *types.Document) (string, []any) {
	if cond.Len() != 1 {
		return "", nil
	}
	raw, err := cond.Get("$in")
	if err != nil {
		return "", nil
	}
	values, ok := raw.(*types.Array)
	if !ok || values.Len() == 0 || values.Len() > idInLimit {
		return "", nil
	}
	args := make([]any, 0, values.Len())
	for i := 0; i < values.Len(); i++ {
		v := must.NotFail(values.Get(i))
		switch v.(type) {
		case string, types.ObjectID:
			args = append(args, string(must.NotFail(sjson.MarshalSingleValue(v))))
		default:
			return "", nil
		}
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
	return fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, marks), args
}
GO
  # Both switches on the _id condition (Query, then Explain) learn the new case.
  perl -0pi -e 's/(\n\t\tswitch v\.\(type\) \{\n)(\t\tcase string, types\.ObjectID:\n\t\t\tfilterPushdown = true\n)/$1\t\tcase *types.Document:\n\t\t\twhereClause, args = idInWhere(v.(*types.Document))\n\t\t\tfilterPushdown = whereClause != ""\n$2/; s/(\n\t\tswitch v\.\(type\) \{\n)(\t\tcase string, types\.ObjectID:\n\t\t\twhereClause)/$1\t\tcase *types.Document:\n\t\t\twhereClause, args = idInWhere(v.(*types.Document))\n$2/' \
    "$dir/collection.go"
  [[ $(grep -c 'idInWhere(v.(\*types.Document))' "$dir/collection.go") == 2 ]] ||
    die "FerretDB's _id pushdown is not where stack.sh expects it; read $dir/collection.go"
}

build_ferretdb() {
  local bin=$LOCAL/bin/ferretdb src=$LOCAL/src/ferretdb dir buildlog=$LOGS/ferretdb-build.log
  [[ -x $bin && $(cat "$bin.build" 2>/dev/null) == "$FERRETDB_BUILD" ]] && return 0
  need go "install Go 1.24+ (https://go.dev/dl); it builds FerretDB $FERRETDB_VERSION"
  say "building FerretDB $FERRETDB_VERSION into $bin (first time only)"
  dir=$(cd "$LOCAL" && GOWORK=off go mod download -json \
    "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" 2>"$buildlog" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
  [[ -n $dir && -d $dir ]] || die "go could not download FerretDB; read $buildlog"
  rm -rf "$src"
  mkdir -p "$LOCAL/src" "$LOCAL/bin"
  cp -R "$dir" "$src"
  chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  ferretdb_id_index_fix "$src"
  ferretdb_id_in_pushdown "$src"
  (cd "$src" && GOWORK=off go build -buildvcs=false -trimpath -o "$bin.tmp" ./cmd/ferretdb) \
    >>"$buildlog" 2>&1 || die "building FerretDB failed; read $buildlog"
  "$bin.tmp" --version >>"$buildlog" 2>&1 || die "the FerretDB build does not run; read $buildlog"
  mv "$bin.tmp" "$bin"
  echo "$FERRETDB_BUILD" >"$bin.build"
  rm -rf "$src"
}

store_kind() { if command -v mongod >/dev/null 2>&1; then echo mongod; else echo ferretdb; fi; }

start_store() {
  if [[ $(store_kind) == mongod ]]; then
    mkdir -p "$DATA/mongo"
    say "starting mongod on $STORE_URL"
    spawn store mongod --dbpath "$DATA/mongo" --bind_ip 127.0.0.1 --port "$STORE_PORT"
  else
    build_ferretdb
    mkdir -p "$DATA/ferretdb" "$DATA/ferretdb-state"
    say "starting FerretDB $FERRETDB_VERSION (SQLite) on $STORE_URL"
    # Telemetry off (it must never call out); the debug HTTP listener off ("-"); at info
    # and warn it logs every connection and dumps each unsupported reply (endSessions).
    spawn store "$LOCAL/bin/ferretdb" --handler=sqlite --sqlite-url="file:$DATA/ferretdb/" \
      --listen-addr="127.0.0.1:$STORE_PORT" --state-dir="$DATA/ferretdb-state" \
      --telemetry=disable --debug-addr="${STORE_DEBUG_ADDR:--}" --log-level=error
  fi
  await_answer store
}

# Who a server is kept up for: "up" (until `down`) or "run" (until the last `run` ends).
# kill-* keeps the mark, so start-* during a `run` (fault tests) gives the server back to it.
owner_file() { printf '%s/%s.owner' "$RUN" "$1"; }
owner_of() { cat "$(owner_file "$1")" 2>/dev/null || true; }

# ensure_up NAME OWNER: start NAME unless running; OWNER "up" claims it for good, "run" only
# marks a server this call starts, "keep" keeps the earlier mark ("up" if none).
ensure_up() {
  local name=$1 owner=$2 pid
  if pid=$(live_pid "$name"); then
    answers "$name" "$START_TIMEOUT" "$pid" ||
      die "$name (pid $pid) runs but does not answer on $(addr_of "$name"); read $(log_of "$name")"
    say "$name already running (pid $pid), answers on $(addr_of "$name")"
    if [[ $owner == up ]]; then echo up >"$(owner_file "$name")"; fi
  elif answers "$name"; then
    say "$name: a server not started by stack.sh answers on $(addr_of "$name"); using it"
  else
    if [[ $owner == keep ]]; then
      owner=$(owner_of "$name")
      owner=${owner:-up}
    fi
    "start_$name"
    echo "$owner" >"$(owner_file "$name")"
  fi
  return 0
}

stop_one() {
  local name=$1 pid
  if ! pid=$(live_pid "$name"); then
    rm -f "$(pidfile "$name")" "$(owner_file "$name")"
    say "$name not running"
    return 0
  fi
  say "stopping $name (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
    say "$name still there after ${STOP_TIMEOUT}s; SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "could not stop $name (pid $pid)"
  fi
  rm -f "$(pidfile "$name")" "$(owner_file "$name")"
}

kill_one() {
  local name=$1 pid
  pid=$(live_pid "$name") || die "$name is not running (or was not started by stack.sh)"
  kill_hard "$name" "$pid" "$(pidfile "$name")"
}

# Servers of this checkout that escaped their pid files would be a leak: name them.
leftovers() {
  local pid cmd found=1
  for pid in $(pgrep -f -- "$LOCAL/" || true); do
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    if [[ $cmd == *kafka.Kafka* || $cmd == *"$LOCAL/bin/ferretdb"* || $cmd == mongod* ]]; then
      say "left over: pid $pid: ${cmd:0:120}"
      found=0
    fi
  done
  return "$found"
}

cmd_status() {
  local name pid owner what run ans rc=0
  for name in kafka store; do
    case $name in
      kafka) what="Apache Kafka $(kafka_version) (SASL_SSL on $KAFKA_TLS_ADDR)" ;;
      store) what=$([[ $(store_kind) == mongod ]] && echo mongod || echo "FerretDB $FERRETDB_VERSION") ;;
    esac
    if pid=$(live_pid "$name"); then
      owner=$(owner_of "$name")
      run="pid $pid${owner:+, for $owner}"
    else run="not started by stack.sh"; fi
    if answers "$name"; then ans=answers; else
      ans="does NOT answer"
      rc=3
    fi
    printf '%-5s %-24s %-24s %s on %s\n' "$name" "$what" "$run" "$ans" "$(addr_of "$name")"
  done
  return "$rc"
}

# A lease per running `run` (named by its pid), so concurrent runs share the servers.
LEASES=$RUN/leases
live_leases() {
  local f
  for f in "$LEASES"/*; do
    [[ -e $f ]] || continue
    if [[ ${f##*/} != "$$" ]] && tr '\0' ' ' <"/proc/${f##*/}/cmdline" 2>/dev/null | grep -q stack.sh; then
      echo "${f##*/}"
    else
      [[ ${f##*/} == "$$" ]] || rm -f "$f" # its run died without cleaning up
    fi
  done
}

cleanup_run() {
  local rc=$? name others
  trap - INT TERM
  lock
  rm -f "$LEASES/$$"
  others=$(live_leases)
  if [[ -n $others ]]; then
    say "leaving the servers to the other running stack.sh run (pid ${others//$'\n'/, })"
  else
    for name in store kafka; do
      if [[ $(owner_of "$name") == run ]]; then stop_one "$name" || rc=1; fi
    done
  fi
  exit "$rc"
}

cmd_run() {
  [[ ${1:-} == -- ]] && shift
  (($#)) || die "usage: stack.sh run -- CMD [ARG...]"
  trap cleanup_run EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  lock
  mkdir -p "$LEASES"
  : >"$LEASES/$$"
  ensure_up kafka run
  ensure_up store run
  unlock
  export KAFKA_BOOTSTRAP_SERVERS=$KAFKA_ADDR MONGODB_URL=$STORE_URL
  export STACK_KAFKA_SASL_SSL=$KAFKA_TLS_ADDR STACK_KAFKA_SECRETS=$KAFKA_SECRETS
  local rc=0
  "$@" || rc=$?
  exit "$rc"
}

main() {
  [[ -x $PY ]] || die "$PY missing: run 'make venv' first (the stack probes use its drivers)"
  need setsid "install util-linux"
  need flock "install util-linux"
  mkdir -p "$RUN" "$LOGS" "$DATA"
  local cmd=${1:-}
  shift || true
  case $cmd in
    up)
      lock
      ensure_up kafka up
      ensure_up store up
      say "up: KAFKA_BOOTSTRAP_SERVERS=$KAFKA_ADDR MONGODB_URL=$STORE_URL"
      say "SASL_SSL on $KAFKA_TLS_ADDR: CA and passwords in $KAFKA_SECRETS (docs/security.md#the-local-stack)"
      ;;
    down)
      lock
      stop_one kafka
      stop_one store
      ! leftovers || die "servers of this checkout still run (above); stop them with kill PID"
      ;;
    status) cmd_status ;;
    run) cmd_run "$@" ;;
    kill-kafka | kill-store) lock && kill_one "${cmd#kill-}" ;;
    stop-kafka | stop-store) lock && stop_one "${cmd#stop-}" ;;
    start-kafka | start-store) lock && ensure_up "${cmd#start-}" keep ;;
    *)
      sed -n '2,/^# Logs:/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
      exit 2
      ;;
  esac
}

# One line: bash reads a script as it runs it, so an edit made meanwhile is never executed.
main "$@"; exit
