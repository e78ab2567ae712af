#!/usr/bin/env bash
# A real Spark standalone cluster on this machine: one master and N workers (separate JVMs, each
# running its own Python workers), started from the pyspark installed in .venv and stopped by pid.
#
#   bash scripts/cluster.sh start [WORKERS]   # default 2 workers, 1 core and 2g each
#   bash scripts/cluster.sh status
#   bash scripts/cluster.sh stop
#
# Then submit with --master "$(bash scripts/cluster.sh url)". Ports: WCE_MASTER_PORT (default 7177),
# WCE_MASTER_UI_PORT (8180); logs and pid files under WCE_CLUSTER_DIR (default ./data/cluster).
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${WCE_CLUSTER_DIR:-./data/cluster}"
PORT="${WCE_MASTER_PORT:-7177}"
UI_PORT="${WCE_MASTER_UI_PORT:-8180}"
HOST=127.0.0.1
URL="spark://$HOST:$PORT"
SPARK_HOME="$(.venv/bin/python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
export SPARK_HOME SPARK_LOCAL_IP=$HOST
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$PWD/.venv/bin/python}"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for_log() {  # file, pattern, seconds
  for _ in $(seq 1 "$3"); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 1
  done
  echo "cluster: timed out waiting for '$2' in $1" >&2
  tail -20 "$1" >&2 || true
  return 1
}

start() {
  local workers="${1:-2}"
  mkdir -p "$DIR"
  if alive "$DIR/master.pid"; then echo "cluster: already running at $URL"; return 0; fi
  "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host $HOST --port "$PORT" --webui-port "$UI_PORT" > "$DIR/master.log" 2>&1 &
  echo $! > "$DIR/master.pid"
  wait_for_log "$DIR/master.log" "I have been elected leader" 120
  for i in $(seq 1 "$workers"); do
    mkdir -p "$DIR/worker-$i"
    "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker "$URL" \
      --host $HOST --cores "${WCE_WORKER_CORES:-1}" --memory "${WCE_WORKER_MEMORY:-2g}" \
      --webui-port 0 --work-dir "$DIR/worker-$i" > "$DIR/worker-$i.log" 2>&1 &
    echo $! > "$DIR/worker-$i.pid"
  done
  for i in $(seq 1 "$workers"); do
    wait_for_log "$DIR/worker-$i.log" "Successfully registered with master" 120
  done
  echo "cluster: master $URL (UI http://$HOST:$UI_PORT) with $workers workers; logs in $DIR"
}

stop() {
  local pids=() f
  for f in "$DIR"/worker-*.pid "$DIR"/master.pid; do
    [ -f "$f" ] || continue
    alive "$f" && pids+=("$(cat "$f")")
    rm -f "$f"
  done
  [ ${#pids[@]} -eq 0 ] && { echo "cluster: not running"; return 0; }
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 30); do
    local left=0 p
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    [ $left -eq 0 ] && { echo "cluster: stopped ${#pids[@]} processes"; return 0; }
    sleep 1
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
  echo "cluster: killed ${#pids[@]} processes"
}

status() {
  local f
  for f in "$DIR"/master.pid "$DIR"/worker-*.pid; do
    [ -f "$f" ] || continue
    if alive "$f"; then echo "$(basename "$f" .pid): running (pid $(cat "$f"))"; else echo "$(basename "$f" .pid): dead"; fi
  done
}

case "${1:-}" in
  start) start "${2:-2}" ;;
  stop) stop ;;
  status) status ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start [WORKERS] | stop | status | url" >&2; exit 2 ;;
esac
