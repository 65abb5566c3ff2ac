#!/usr/bin/env bash
# The arrival pacer's punctuality and cost at fixed rates (docs/performance.md): for each
# gauntlet build, one constant-arrival-rate run of bench/plans/get.yaml per rate against
# nginx on 127.0.0.1:28080 (bench/targets.sh start nginx), rounds interleaved, the
# generator pinned to core 1 with `taskset`. Prints per run, in µs:
#   - iteration_start_lateness median and p(95): how late the generator started iterations;
#   - corrected minus raw http_req_duration at p(50) and p(95): what the generator's own
#     delay added to the latency it reports (with free VUs, it should add nothing);
#   - CPU (user + system, from /usr/bin/time) per request, and the requests sent.
# A benchmark, not a test: the machine's load moves every figure; compare builds within
# a round and over several rounds.
#   bench/lateness.sh /tmp/gauntlet-before /tmp/gauntlet-after
# Env: RATES ("50 500 3000 5000 50000"), D (5, seconds a run), ROUNDS (1), VUS (64),
#      URL (http://127.0.0.1:28080/), OUT (/tmp/bench-run/lateness).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RATES="${RATES:-50 500 3000 5000 50000}"
D="${D:-5}"
ROUNDS="${ROUNDS:-1}"
VUS="${VUS:-64}"
URL="${URL:-http://127.0.0.1:28080/}"
OUT="${OUT:-/tmp/bench-run/lateness}"
PLAN="$HERE/plans/get.yaml"
[ "$#" -ge 1 ] || { echo "usage: bench/lateness.sh GAUNTLET_BIN [GAUNTLET_BIN...]" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is missing" >&2; exit 1; }
ulimit -n 20000 2>/dev/null || true
curl -fsS -o /dev/null "$URL" \
  || { echo "nothing answers at $URL (bench/targets.sh start nginx)" >&2; exit 1; }
mkdir -p "$OUT"

printf '%-5s %-6s %-32s %8s %8s %8s %8s %8s %9s\n' round rate build "late p50" "late p95" \
  "c-r p50" "c-r p95" "CPU/req" requests
for r in $(seq 1 "$ROUNDS"); do
  for rate in $RATES; do
    for bin in "$@"; do
      tag="$(basename "$bin").$rate.$r"
      sum="$OUT/$tag.json"
      # Bounded: the run's duration plus its gracefulStop margin, then killed.
      taskset -c 1 timeout $((D + 40)) /usr/bin/time -o "$OUT/$tag.time" -f "%U %S" \
        "$bin" run "$PLAN" --url "$URL" --rate "$rate" --vus "$VUS" --duration "${D}s" -q \
        --summary-trend-stats "med,p(95),p(99),max" --summary-export "$sum" \
        >"$OUT/$tag.log" 2>&1 || { echo "run failed: see $OUT/$tag.log" >&2; continue; }
      python3 - "$sum" "$OUT/$tag.time" "$r" "$rate" "$bin" <<'PY'
import json, sys
summary, timing, rnd, rate, build = sys.argv[1:]
s = json.load(open(summary))
m = s["metrics"]
raw = s["gauntlet"]["rawLatency"]["http_req_duration"]
cor = m["http_req_duration"]["values"]
late = m.get("iteration_start_lateness", {}).get("values", {})
reqs = m["http_reqs"]["values"]["count"]
cpu = sum(float(x) for x in open(timing).read().split()[-2:])
us = lambda ms: ms * 1000.0
print(f"{rnd:<5} {rate:<6} {build[-32:]:<32} {us(late.get('med', 0)):8.0f} "
      f"{us(late.get('p(95)', 0)):8.0f} {us(cor['med'] - raw['med']):8.0f} "
      f"{us(cor['p(95)'] - raw['p(95)']):8.0f} {cpu / reqs * 1e6:8.1f} {reqs:9.0f}")
PY
    done
  done
done
