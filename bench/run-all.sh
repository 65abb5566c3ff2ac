#!/usr/bin/env bash
# Run the whole bench/ suite (or some figures) and write bench/RESULTS.md.
#   bench/run-all.sh                       # all figures, 3 repetitions, full durations (~35 min)
#   bench/run-all.sh --quick               # all figures, 3 repetitions, short durations (~15 min)
#   bench/run-all.sh throughput            # one figure: throughput | rss | rate | co | flow
#   bench/run-all.sh --reps 5 --out DIR rate co
# Options: --quick, --reps N, --out DIR (default bench/results/<UTC time>), --no-results
# (do not rewrite bench/RESULTS.md; the tables are always in OUT/summary.md).
# RESULTS.md is rewritten only when every figure ran. Run bench/setup.sh once before.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/bench-target}"
QUICK=0 REPS=3 OUT="" WRITE_RESULTS=1 FIGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --reps) REPS="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --no-results) WRITE_RESULTS=0 ;;
    throughput|rss|rate|co|flow) FIGS+=("$1") ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
ALL=(throughput rss rate co flow)
[ "${#FIGS[@]}" -gt 0 ] || FIGS=("${ALL[@]}")
OUT="${OUT:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
if [ "$QUICK" = 1 ]; then
  D_TP=5 D_RSS=8 D_RATE=10 D_CO=10 D_FLOW=8
else
  D_TP=10 D_RSS=15 D_RATE=15 D_CO=20 D_FLOW=15
fi

for bin in "$CARGO_TARGET_DIR/release/gauntlet" "$CARGO_TARGET_DIR/targets/release/bench-server"; do
  [ -x "$bin" ] || { echo "missing $bin: run bench/setup.sh first" >&2; exit 1; }
done

"$HERE/targets.sh" start all
trap '"$HERE/targets.sh" stop all' EXIT

ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
  echo "warning: open-file limit $(ulimit -n) < 12000: the 10,000-connection runs will fail" >&2
fi
python3 "$HERE/env.py" --quick "$QUICK" --reps "$REPS" >"$OUT/env.json"
# the runner itself sits on the targets' core, so its polling does not steal from the generator
B=(taskset -c 0 python3 "$HERE/bench.py")
for f in "${FIGS[@]}"; do
  echo "== $f ($(uptime))"
  case "$f" in
    throughput)
      "${B[@]}" throughput --out "$OUT/throughput" -c 64 -d "$D_TP" --reps "$REPS"
      "${B[@]}" throughput --out "$OUT/throughput-hyper" --target hyper -c 64 -d "$D_TP" --reps "$REPS" ;;
    rss)  "${B[@]}" rss --out "$OUT/rss" --levels 1000,10000 -d "$D_RSS" --reps "$REPS" ;;
    rate) "${B[@]}" rate --out "$OUT/rate" -c 64 --rates 5000,50000 -d "$D_RATE" --reps "$REPS" ;;
    co)   "${B[@]}" co --out "$OUT/co" -c 64 --rate 1000 -d "$D_CO" --reps "$REPS" ;;
    flow) "${B[@]}" flow --out "$OUT/flow" -c 64 --rate 1500 -d "$D_FLOW" --reps "$REPS" ;;
  esac
done

python3 "$HERE/report.py" "$OUT" >"$OUT/summary.md"
complete=1
for f in "${ALL[@]}"; do [ -f "$OUT/$f/results.jsonl" ] || complete=0; done
if [ "$WRITE_RESULTS" = 1 ] && [ "$complete" = 1 ]; then
  cp "$OUT/summary.md" "$HERE/RESULTS.md"
  echo "wrote $HERE/RESULTS.md"
fi
cat "$OUT/summary.md"
echo "raw data in $OUT (relative to the repo: ${OUT#"$ROOT"/})"
