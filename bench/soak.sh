#!/usr/bin/env bash
# Memory over a long run: gauntlet at a fixed arrival rate against nginx for D
# seconds, its resident set sampled every S seconds, then the result file's size.
# Answers "does memory stay bounded over an hour" (docs/performance.md).
#   bench/soak.sh                     # 2,000/s for 1 hour
#   D=600 RATE=5000 bench/soak.sh     # shorter, faster
# Env: GAUNTLET_BIN (/tmp/bench-target/release/gauntlet), RATE (2000), D (3600),
#      S (10), VUS (64), URL (http://127.0.0.1:28080), OUT (/tmp/bench-run/soak).
# Writes OUT/rss.csv (elapsed_s,rss_kib), OUT/result.json, OUT/summary.txt and prints
# the RSS at start, at the quarters and at the end, its peak, and the result's size.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
GAUNTLET_BIN="${GAUNTLET_BIN:-/tmp/bench-target/release/gauntlet}"
RATE="${RATE:-2000}"
D="${D:-3600}"
S="${S:-10}"
VUS="${VUS:-64}"
URL="${URL:-http://127.0.0.1:28080}"
OUT="${OUT:-/tmp/bench-run/soak}"
mkdir -p "$OUT"
if [ "$URL" = "http://127.0.0.1:28080" ] && ! (exec 3<>/dev/tcp/127.0.0.1/28080) 2>/dev/null; then
  "$HERE/targets.sh" start nginx
fi

taskset -c 1 "$GAUNTLET_BIN" run "$HERE/plans/get.yaml" --url "$URL" --rate "$RATE" \
  --vus "$VUS" --duration "${D}s" -q --out json="$OUT/result.json" >"$OUT/summary.txt" 2>&1 &
pid=$!
echo "elapsed_s,rss_kib" >"$OUT/rss.csv"
t0=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
  [ -n "$rss" ] && echo "$(( $(date +%s) - t0 )),$rss" >>"$OUT/rss.csv"
  sleep "$S"
done
wait "$pid" || echo "gauntlet exited with $?" >&2

python3 - "$OUT/rss.csv" "$OUT/result.json" <<'PY'
import csv, os, sys
rows = [(int(r["elapsed_s"]), int(r["rss_kib"])) for r in csv.DictReader(open(sys.argv[1]))]
if not rows:
    sys.exit("no RSS samples")
n = len(rows)
pick = lambda f: rows[min(n - 1, int(f * (n - 1)))]
for label, f in [("start", 0), ("25%", .25), ("50%", .5), ("75%", .75), ("end", 1)]:
    t, kib = pick(f)
    print(f"RSS {label:>5} (t={t:>5} s): {kib / 1024:7.1f} MiB")
print(f"RSS peak: {max(k for _, k in rows) / 1024:.1f} MiB over {n} samples")
print(f"result.json: {os.path.getsize(sys.argv[2]) / 1e6:.2f} MB")
PY
grep -E '^ *(http_reqs|dropped_iterations)' "$OUT/summary.txt" || true
