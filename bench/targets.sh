#!/usr/bin/env bash
# Start/stop the loopback benchmark targets, pinned to SERVER_CPU (default core 0).
#   bench/targets.sh start nginx|hyper|stall|demo|all
#   bench/targets.sh stop  nginx|hyper|stall|demo|all
#   bench/targets.sh status
# nginx : 127.0.0.1:28080  Debian's nginx, 1 worker, `return 200 "ok"`, stub_status at /nginx_status
# hyper : 127.0.0.1:28081  bench-server (bench/targets/), current-thread hyper, answers "ok"
# stall : 127.0.0.1:28082  bench-server with 1 ms service time, frozen 1 s every 5 s
# demo  : 127.0.0.1:28083  `gauntlet demo` (release build), for the flow-cost figure
# Processes are stopped by the PIDs recorded at start (RUNDIR/NAME.pid), nothing else.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RUNDIR="${RUNDIR:-/tmp/bench-run}"
SERVER_CPU="${SERVER_CPU:-0}"
TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/bench-target}"
SERVER_BIN="${BENCH_SERVER_BIN:-$TARGET_DIR/targets/release/bench-server}"
GAUNTLET_BIN="${GAUNTLET_BIN:-$TARGET_DIR/release/gauntlet}"
mkdir -p "$RUNDIR"

wait_port() { # port
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "port $1 did not open" >&2; return 1
}

stop_pidfile() { # name
  local f="$RUNDIR/$1.pid"
  [ -f "$f" ] || return 0
  local pid; pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

start_bg() { # name port cmd...
  local name="$1" port="$2"; shift 2
  stop_pidfile "$name"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already taken by another process; free it or change bench/targets.sh" >&2
    return 1
  fi
  ulimit -n "$(ulimit -Hn)"  # 10,000 connections need ~10,000 descriptors on each side
  taskset -c "$SERVER_CPU" "$@" >"$RUNDIR/$name.log" 2>&1 &
  echo $! >"$RUNDIR/$name.pid"
  wait_port "$port"
  echo "$name pid=$(cat "$RUNDIR/$name.pid") 127.0.0.1:$port cpu=$SERVER_CPU"
}

start() { # name
  case "$1" in
    nginx)
      mkdir -p "$RUNDIR/nginx/tmp"
      start_bg nginx 28080 /usr/sbin/nginx -p "$RUNDIR/nginx/" -c "$HERE/conf/nginx.conf" ;;
    hyper) start_bg hyper 28081 "$SERVER_BIN" --addr 127.0.0.1:28081 ;;
    stall) start_bg stall 28082 "$SERVER_BIN" --addr 127.0.0.1:28082 --delay-us 1000 \
             --stall-period-ms 5000 --stall-ms 1000 ;;
    demo) start_bg demo 28083 "$GAUNTLET_BIN" demo --port 28083 --seed-items 100 ;;
    *) echo "usage: $0 start nginx|hyper|stall|demo|all" >&2; exit 2 ;;
  esac
}

case "${1:-}" in
  start)
    if [ "${2:-}" = all ]; then for n in nginx hyper stall demo; do start "$n"; done; else start "${2:-}"; fi ;;
  stop)
    case "${2:-all}" in
      all) for n in nginx hyper stall demo; do stop_pidfile "$n"; done ;;
      *) stop_pidfile "$2" ;;
    esac ;;
  status)
    for n in nginx hyper stall demo; do
      f="$RUNDIR/$n.pid"
      if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
        echo "$n: pid $(cat "$f") $(grep Cpus_allowed_list "/proc/$(cat "$f")/status" | tr -s '\t' ' ')"
      else echo "$n: not running"; fi
    done ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
