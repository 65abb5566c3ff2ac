#!/usr/bin/env bash
# Where is hyper the limit? Requests per client CPU-second of wrk, the cheapest hyper 1.x
# client loop (hyper-floor), a hand-written HTTP/1.1 keep-alive loop (hyper-floor --raw)
# and the same with per-request timing + hdrhistogram (--raw --record), all against nginx.
#
#   bench/targets.sh start nginx     # first: nginx on 127.0.0.1:28080, pinned to core 0
#   bench/floor.sh                   # 3 rounds x 4 clients x 10 s, each pinned to core 1
#   ROUNDS=5 DURATION=10 CONNS=64 CLIENT_CPU=1 bench/floor.sh
#
# Each round runs wrk, hyper, raw, raw+record once, in that order (interleaved). wrk's CPU
# comes from /usr/bin/time (%U %S), its requests from its own summary; hyper-floor prints
# its requests and getrusage CPU as JSON. Ratios are to wrk in the same round.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-64}"
CLIENT_CPU="${CLIENT_CPU:-1}"
URL="${URL:-http://127.0.0.1:28080/}"
TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/bench-target}/targets"
BIN="$TARGET_DIR/release/hyper-floor"
OUT="${OUT:-$(mktemp -d /tmp/floor.XXXXXX)}"
mkdir -p "$OUT"

if ! (exec 3<>/dev/tcp/127.0.0.1/28080) 2>/dev/null; then
  echo "nothing listens on 127.0.0.1:28080; run: bench/targets.sh start nginx" >&2
  exit 1
fi
(cd "$HERE/targets" && cargo build --release --locked --target-dir "$TARGET_DIR" --bin hyper-floor) >&2

RES="$OUT/results.jsonl"
: >"$RES"
for r in $(seq 1 "$ROUNDS"); do
  # wrk
  /usr/bin/time -f '%U %S' -o "$OUT/wrk.$r.time" \
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$URL" >"$OUT/wrk.$r.out"
  req="$(awk '/requests in/ {print $1; exit}' "$OUT/wrk.$r.out")"
  secs="$(awk '/requests in/ {gsub(/s,?$/, "", $4); print $4; exit}' "$OUT/wrk.$r.out")"
  read -r user sys <"$OUT/wrk.$r.time"
  echo "{\"round\":$r,\"tool\":\"wrk\",\"requests\":$req,\"seconds\":$secs,\"user_s\":$user,\"sys_s\":$sys}" >>"$RES"
  tail -n 1 "$RES" >&2
  # hyper-floor variants
  for v in hyper raw raw+record; do
    case "$v" in
      hyper) flags=() ;;
      raw) flags=(--raw) ;;
      raw+record) flags=(--raw --record) ;;
    esac
    line="$(taskset -c "$CLIENT_CPU" "$BIN" --url "$URL" -c "$CONNS" -d "$DURATION" "${flags[@]}")"
    echo "{\"round\":$r,\"tool\":\"$v\",${line#\{}" >>"$RES"
    tail -n 1 "$RES" >&2
  done
done

python3 - "$RES" "$ROUNDS" "$CONNS" "$DURATION" <<'EOF'
import json, statistics, sys
path, rounds, conns, dur = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = [json.loads(l) for l in open(path)]
for r in rows:
    r["cpu"] = r["user_s"] + r["sys_s"]
    r["rpc"] = r["requests"] / r["cpu"]
    r["rps"] = r["requests"] / r["seconds"]
wrk = {r["round"]: r for r in rows if r["tool"] == "wrk"}
med = statistics.median
print(f"{rounds} rounds, {conns} connections, {dur} s each, client on one core, nginx on the other")
print()
print("| client | req/s | client CPU (% of a core) | req per CPU-s (median) | ratio to wrk: median [min-max] |")
print("|---|---:|---:|---:|---|")
for tool in ["wrk", "hyper", "raw", "raw+record"]:
    rs = [r for r in rows if r["tool"] == tool]
    ratios = [r["rpc"] / wrk[r["round"]]["rpc"] for r in rs]
    print(f"| {tool} | {med(r['rps'] for r in rs):,.0f} | {med(100*r['cpu']/r['seconds'] for r in rs):.0f}% "
          f"| {med(r['rpc'] for r in rs):,.0f} | {med(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}] |")
EOF
echo "raw results: $RES" >&2
