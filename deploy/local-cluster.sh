#!/usr/bin/env bash
# A dmasim cluster on one machine, as if on three nodes: Redis, NATS (JetStream) and N worker processes,
# all on loopback (127.0.0.1, free ports), then one distributed sweep, then a summary of its trace showing
# how the shards spread over the nodes.
#
#   deploy/local-cluster.sh [SWEEP_FILE] [--workers N] [--threads N] [--keep]
#
#   SWEEP_FILE   default deploy/k8s/base/sweeps/example.yaml (300 scenarios in 30 shards)
#   --workers N  worker processes, named node-a, node-b, ... (default 3)
#   --threads N  pool threads per worker (default 1, so three workers share a 2-core machine)
#   --keep       leave Redis, NATS and the workers running at the end (the script prints how to stop them)
#
# Every process writes its spans and metrics to DMASIM_TRACE_FILE=<dir>/traces/<process>.jsonl, and also to
# an OTLP collector when OTEL_EXPORTER_OTLP_ENDPOINT is set in the environment (e.g. the Jaeger of
# deploy/compose.yaml: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318). Each worker is a "node": its own
# name (results and traces say which node ran which shard), host.name resource attribute and health port.
#
# Why processes and not network namespaces: a namespace with only its own loopback cannot reach the Redis
# and NATS of another namespace, and connecting namespaces needs veth pairs on a private range, which this
# project does not use; all traffic stays on 127.0.0.0/8. Needs redis-server and nats-server (apt-get install
# redis-server nats-server); runs dmasim from this checkout (built dist/ or, without it, the sources).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$ROOT/node_modules/.bin:$PATH"
SWEEP="$ROOT/deploy/k8s/base/sweeps/example.yaml"
WORKERS=3
THREADS=1
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) WORKERS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "local-cluster.sh: unknown option $1" >&2; exit 2 ;;
    *) SWEEP=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); shift ;;
  esac
done
case "$WORKERS" in ''|*[!0-9]*) echo "local-cluster.sh: --workers expects a number" >&2; exit 2 ;; esac
[ "$WORKERS" -ge 1 ] && [ "$WORKERS" -le 26 ] || { echo "local-cluster.sh: --workers 1..26" >&2; exit 2; }

REDIS_SERVER=$(command -v redis-server || true)
NATS_SERVER=$(command -v nats-server || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } || true)
if [ -z "$REDIS_SERVER" ] || [ -z "$NATS_SERVER" ]; then
  echo "local-cluster.sh: needs redis-server and nats-server: apt-get install -y redis-server nats-server" >&2
  exit 3
fi

WORK=${DMASIM_CLUSTER_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/dmasim-cluster.XXXXXX")}
mkdir -p "$WORK/traces" "$WORK/logs"
PIDS=()
cleanup() {
  local code=$?
  if [ "$KEEP" = 1 ] && [ "$code" = 0 ]; then
    echo "left running (pids ${PIDS[*]}); stop with: kill ${PIDS[*]}"
    return
  fi
  # Workers first (SIGTERM: their graceful shutdown), then the servers; only the processes started here.
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  node -e "const s=require('node:net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
wait_tcp() { # host port what
  for _ in $(seq 1 100); do
    node -e "const c=require('node:net').connect($2,'$1');c.on('connect',()=>process.exit(0));c.on('error',()=>process.exit(1))" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "local-cluster.sh: $3 did not start on $1:$2 (logs in $WORK/logs)" >&2
  exit 1
}
wait_ready() { # url what
  for _ in $(seq 1 300); do
    node -e "fetch('$1').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "local-cluster.sh: $2 is not ready at $1 (logs in $WORK/logs)" >&2
  exit 1
}

REDIS_PORT=$(free_port)
NATS_PORT=$(free_port)
"$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK" --appendonly yes --maxmemory-policy noeviction \
  --save '' >"$WORK/logs/redis.log" 2>&1 &
PIDS+=($!)
"$NATS_SERVER" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$WORK/nats" >"$WORK/logs/nats.log" 2>&1 &
PIDS+=($!)
wait_tcp 127.0.0.1 "$REDIS_PORT" redis-server
wait_tcp 127.0.0.1 "$NATS_PORT" nats-server
REDIS="redis://127.0.0.1:$REDIS_PORT"
NATS="nats://127.0.0.1:$NATS_PORT"
echo "redis $REDIS, nats $NATS, work folder $WORK"

DMASIM=(node "$ROOT/packages/cli/bin/dmasim.js")
for ((i = 0; i < WORKERS; i++)); do
  node_name="node-$(printf "\\x$(printf %x $((97 + i)))")"
  port=$(free_port)
  DMASIM_TRACE_FILE="$WORK/traces/$node_name.jsonl" \
  OTEL_SERVICE_NAME=dmasim-worker \
  OTEL_RESOURCE_ATTRIBUTES="host.name=$node_name,service.instance.id=$node_name" \
    "${DMASIM[@]}" worker --redis "$REDIS" --nats "$NATS" --name "$node_name" --threads "$THREADS" \
      --health-port "$port" >"$WORK/logs/$node_name.log" 2>&1 &
  PIDS+=($!)
  eval "READY_$i=http://127.0.0.1:$port/readyz"
done
for ((i = 0; i < WORKERS; i++)); do
  url_var="READY_$i"
  wait_ready "${!url_var}" "worker $i"
done
echo "$WORKERS workers ready: node-a..; running $(basename "$SWEEP")"

DMASIM_TRACE_FILE="$WORK/traces/coordinator.jsonl" \
OTEL_SERVICE_NAME=dmasim-coordinator \
OTEL_RESOURCE_ATTRIBUTES="host.name=coordinator,service.instance.id=coordinator" \
  "${DMASIM[@]}" sweep "$SWEEP" --redis "$REDIS" --nats "$NATS" --out "$WORK/report" --no-progress \
    2> >(tee "$WORK/logs/coordinator.log" >&2)

# The workers flush their spans when they stop: stop them now (unless --keep) so the summary sees them all.
if [ "$KEEP" = 0 ]; then
  for ((i = ${#PIDS[@]} - 1; i >= 2; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  for ((i = ${#PIDS[@]} - 1; i >= 2; i--)); do
    for _ in $(seq 1 300); do kill -0 "${PIDS[$i]}" 2>/dev/null || break; sleep 0.1; done
  done
fi
node "$ROOT/deploy/local-cluster/trace-summary.ts" "$WORK/traces" --require-nodes "$((WORKERS > 1 ? 2 : 1))"
echo "report: $WORK/report/report.md; traces: $WORK/traces/*.jsonl; logs: $WORK/logs/"
