#!/usr/bin/env bash
# A three-node Apache Kafka cluster on loopback for the replication tests
# (tests/chaos/test_cluster.py): KRaft, every node broker+controller, a static quorum of three
# voters, internal topics replicated 3 with min.insync.replicas 2, -Xmx256m per node. Jars come
# from .local/kafka/libs (ops/stack/stack.sh fetches them); configuration, data, logs and pid
# files live under .local/cluster/ (git-ignored). Independent of the single-node stack.sh.
#
#   cluster.sh start            start the nodes that are not running, wait until each answers
#   cluster.sh stop             stop every node (SIGTERM, then SIGKILL); leaves no process behind
#   cluster.sh clean            stop, then drop the data (a fresh cluster at the next start)
#   cluster.sh status           each node's pid and whether it answers (exit 0 only if all do)
#   cluster.sh kill-broker N    SIGKILL node N (1..3), no shutdown of any kind
#   cluster.sh start-broker N   start node N again and wait until it answers
#   cluster.sh bootstrap        print the bootstrap list (127.0.0.1:B1,127.0.0.1:B2,127.0.0.1:B3)
#
# Environment: CLUSTER_PORT (29092): node N's broker listens on CLUSTER_PORT+2(N-1) and its
# controller on the port above (29092/29093, 29094/29095, 29096/29097);
# CLUSTER_START_TIMEOUT (120 s per node), CLUSTER_STOP_TIMEOUT (30 s before SIGKILL).
# Logs: .local/cluster/logs/nodeN.log.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/ops/stack
LIBS=$ROOT/.local/kafka/libs
BASE=$ROOT/.local/cluster
RUN=$BASE/run
LOGS=$BASE/logs
DATA=$BASE/data
PY=$ROOT/.venv/bin/python
CLUSTER_PORT=${CLUSTER_PORT:-29092}
START_TIMEOUT=${CLUSTER_START_TIMEOUT:-120}
STOP_TIMEOUT=${CLUSTER_STOP_TIMEOUT:-30}
NODES=(1 2 3)
# A fixed, valid KRaft cluster id (base64url of 16 bytes), other than the single node's.
CLUSTER_ID=cmVsZWFzZS1nYXRlLTNub2Rl

WHO=cluster
# shellcheck source=ops/stack/procs.sh
source "$HERE/procs.sh"

broker_port() { echo $((CLUSTER_PORT + 2 * ($1 - 1))); }
controller_port() { echo $((CLUSTER_PORT + 2 * ($1 - 1) + 1)); }
addr_of() { echo "127.0.0.1:$(broker_port "$1")"; }
bootstrap() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("$(addr_of "$n")"); done
  (
    IFS=,
    echo "${out[*]}"
  )
}
pidfile() { echo "$RUN/node$1.pid"; }
log_of() { echo "$LOGS/node$1.log"; }
conf_of() { echo "$BASE/node$1.properties"; }

# One cluster.sh at a time changes the cluster. Nodes must not inherit fd 9 (see spawn).
lock() {
  exec 9>"$RUN/cluster.lock"
  flock -w 300 9 || die "another cluster.sh still holds $RUN/cluster.lock"
}


# The pid of node N if it still runs; its command line must name its own configuration
# file, so a recycled pid is never taken for it.
live_pid() {
  local f pid
  f=$(pidfile "$1")
  [[ -f $f ]] && pid=$(<"$f") && [[ $pid =~ ^[0-9]+$ ]] || return 1
  ! gone "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(conf_of "$1")" ||
    return 1
  echo "$pid"
}

# Small heaps (three JVMs on two cores); the log cleaner's dedupe buffer (128 MiB by
# default) would not fit in one, so render() shrinks it.
JVM=(java -Xmx256m -Xms64m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.properties" -cp "$LIBS/*")

render() {
  local n=$1 voters="" m
  for m in "${NODES[@]}"; do voters+="${voters:+,}$m@127.0.0.1:$(controller_port "$m")"; done
  mkdir -p "$DATA/node$n"
  cat >"$(conf_of "$n")" <<EOF
# Rendered by ops/stack/cluster.sh; edit that script, not this file.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n")
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA/node$n
# Replicated like production: an acknowledged write (acks=all) is on two brokers at least.
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
share.coordinator.state.topic.num.partitions=3
# Every topic of a test is created explicitly, with its replication factor.
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
num.partitions=3
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
background.threads=2
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
log.retention.hours=24
EOF
}

format() {
  local n=$1
  [[ -f $DATA/node$n/meta.properties ]] && return 0
  say "formatting node $n's storage in $DATA/node$n (first start)"
  "${JVM[@]}" kafka.tools.StorageTool format --config "$(conf_of "$n")" \
    --cluster-id "$CLUSTER_ID" --ignore-formatted >>"$(log_of "$n")" 2>&1 ||
    die "formatting node $n failed; read $(log_of "$n")"
}

# spawn N: start node N in its own session (the whole group can be signalled); the child
# writes its own pid, since setsid may fork.
spawn() {
  local n=$1 pidf log i
  pidf=$(pidfile "$n")
  log=$(log_of "$n")
  rm -f "$pidf"
  printf '\n=== node %s started by cluster.sh at %s ===\n' "$n" "$(date -Is)" >>"$log"
  # shellcheck disable=SC2016 # $$ and $@ belong to the child shell
  setsid bash -c 'echo $$ >"$0"; exec nohup "$@"' "$pidf" "${JVM[@]}" kafka.Kafka "$(conf_of "$n")" \
    </dev/null >>"$log" 2>&1 9>&- &
  disown "$!"
  for ((i = 0; i < 100; i++)); do
    [[ -s $pidf ]] && break
    sleep 0.05
  done
  [[ -s $pidf ]] || die "could not start node $n; read $log"
}

# answers N [TIMEOUT [PID]]: node N's broker answers a metadata request (ops/stack/probe.py).
answers() {
  "$PY" "$HERE/probe.py" kafka "$(addr_of "$1")" --timeout "${2:-0}" ${3:+--pid "$3"}
}

await_answer() {
  local n=$1 pid rc=0
  pid=$(<"$(pidfile "$n")")
  answers "$n" "$START_TIMEOUT" "$pid" || rc=$?
  case $rc in
    0) say "node $n answers on $(addr_of "$n") (pid $pid)" ;;
    2)
      rm -f "$(pidfile "$n")"
      die "node $n exited while starting; read $(log_of "$n")"
      ;;
    *)
      stop_nodes "$n" || true
      die "node $n did not answer on $(addr_of "$n") within ${START_TIMEOUT}s (stopped it); read $(log_of "$n")"
      ;;
  esac
}

preflight() {
  need java "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
  compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null ||
    die "no Kafka jars in $LIBS: run 'ops/stack/stack.sh up' once (it fetches them from Maven Central)"
  local major
  major=$(java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -1)
  ((${major:-0} >= 17)) || die "Kafka 4 needs Java 17+, found: $(java -version 2>&1 | head -1)"
}

# start_nodes N...: spawn every node not running, then wait for each (a quorum needs two).
start_nodes() {
  local n pid started=()
  preflight
  for n in "$@"; do
    if pid=$(live_pid "$n"); then
      say "node $n already running (pid $pid)"
      continue
    fi
    if answers "$n"; then die "a server not started by cluster.sh answers on $(addr_of "$n")"; fi
    render "$n"
    format "$n"
    spawn "$n"
    started+=("$n")
  done
  for n in "$@"; do
    if [[ " ${started[*]} " == *" $n "* ]]; then
      await_answer "$n"
    else
      pid=$(live_pid "$n") || die "node $n stopped meanwhile; read $(log_of "$n")"
      answers "$n" "$START_TIMEOUT" "$pid" ||
        die "node $n (pid $pid) runs but does not answer on $(addr_of "$n"); read $(log_of "$n")"
    fi
  done
}

# Stop every node at once (each needs the others' quorum to shut down in a controlled way).
stop_nodes() {
  local n pid entry pids=() rc=0
  for n in "$@"; do
    if pid=$(live_pid "$n"); then
      say "stopping node $n (pid $pid)"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      pids+=("$n:$pid")
    else
      rm -f "$(pidfile "$n")"
    fi
  done
  for entry in "${pids[@]}"; do
    n=${entry%%:*} pid=${entry#*:}
    if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
      say "node $n still there after ${STOP_TIMEOUT}s; SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || true
      wait_gone "$pid" 10 || {
        say "could not stop node $n (pid $pid)"
        rc=1
        continue
      }
    fi
    rm -f "$(pidfile "$n")"
  done
  return "$rc"
}

kill_node() {
  local n=$1 pid
  pid=$(live_pid "$n") || die "node $n is not running (or was not started by cluster.sh)"
  kill_hard "node $n" "$pid" "$(pidfile "$n")"
}

# Nodes of this cluster that escaped their pid files would be a leak: name them.
leftovers() {
  local pid cmd found=1
  for pid in $(pgrep -f -- "$BASE/node" || true); do
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    if [[ $cmd == *kafka.Kafka* ]]; then
      say "left over: pid $pid: ${cmd:0:160}"
      found=0
    fi
  done
  return "$found"
}

cmd_status() {
  local n pid run ans rc=0
  for n in "${NODES[@]}"; do
    if pid=$(live_pid "$n"); then run="pid $pid"; else run="not running"; fi
    if answers "$n"; then ans=answers; else
      ans="does NOT answer"
      rc=3
    fi
    printf 'node %s  %-12s %-16s on %s (controller %s)\n' "$n" "$run" "$ans" "$(addr_of "$n")" \
      "$(controller_port "$n")"
  done
  return "$rc"
}

node_arg() {
  [[ ${1:-} =~ ^[1-3]$ ]] || die "name a node: 1, 2 or 3 (got '${1:-}')"
  echo "$1"
}

main() {
  [[ -x $PY ]] || die "$PY missing: run 'make venv' first (the probe uses its Kafka client)"
  need setsid "install util-linux"
  need flock "install util-linux"
  mkdir -p "$RUN" "$LOGS" "$DATA"
  local cmd=${1:-} n
  shift || true
  case $cmd in
    start)
      lock
      start_nodes "${NODES[@]}"
      say "up: KAFKA_BOOTSTRAP_SERVERS=$(bootstrap)"
      ;;
    stop | clean)
      lock
      stop_nodes "${NODES[@]}" || true
      ! leftovers || die "nodes of this cluster still run (above); stop them with kill PID"
      if [[ $cmd == clean ]]; then
        rm -rf "$DATA"
        say "dropped $DATA"
      fi
      ;;
    status) cmd_status ;;
    bootstrap) bootstrap ;;
    kill-broker)
      n=$(node_arg "${1:-}")
      lock
      kill_node "$n"
      ;;
    start-broker)
      n=$(node_arg "${1:-}")
      lock
      start_nodes "$n"
      ;;
    *)
      sed -n '2,/^# Logs:/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
      exit 2
      ;;
  esac
}

# One line: bash reads a script as it runs it, so an edit made meanwhile is never executed.
main "$@"; exit
