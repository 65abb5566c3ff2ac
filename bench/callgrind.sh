#!/usr/bin/env bash
# Instruction count of a fixed short run, to compare a change against the last one
# (docs/performance.md). Instructions, unlike time, barely move with machine load.
#   bench/callgrind.sh            # build, run plans/callgrind.yaml against nginx under callgrind
#   bench/callgrind.sh --no-build # reuse the existing release binary
# Runs `gauntlet run bench/plans/callgrind.yaml --workers 1` (a shared-iterations
# scenario: a fixed number of GETs with a check and a tag, 8 VUs, one thread) under
# `valgrind --tool=callgrind` against nginx on 127.0.0.1:28080 (started with
# bench/targets.sh if nothing listens there), then prints the total instructions (Ir),
# Ir per request, Ir per request without the collector's once-a-second tick (whose
# count follows wall time, which valgrind stretches ~50x), and the top functions.
# Env: CARGO_TARGET_DIR (/tmp/bench-target), GAUNTLET_BIN, OUT (/tmp/bench-run/callgrind),
#      TARGET_URL (http://127.0.0.1:28080), TOP (15).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/bench-target}"
GAUNTLET_BIN="${GAUNTLET_BIN:-$CARGO_TARGET_DIR/release/gauntlet}"
OUT="${OUT:-/tmp/bench-run/callgrind}"
TARGET_URL="${TARGET_URL:-http://127.0.0.1:28080}"
TOP="${TOP:-15}"
PLAN="$HERE/plans/callgrind.yaml"

command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null \
  || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

if [ "${1:-}" != "--no-build" ]; then
  (cd "$ROOT" && cargo build --release --locked -p gauntlet-cli)
fi

# The default target is bench/targets.sh's nginx; start it if nothing answers there.
if [ "$TARGET_URL" = "http://127.0.0.1:28080" ] \
  && ! (exec 3<>/dev/tcp/127.0.0.1/28080) 2>/dev/null; then
  "$HERE/targets.sh" start nginx
fi

mkdir -p "$OUT"
stamp="$(date +%Y%m%d-%H%M%S)"
cg="$OUT/callgrind.$stamp.out"
log="$OUT/run.$stamp.log"
echo "running under callgrind (about 30 s): $GAUNTLET_BIN run $PLAN --url $TARGET_URL --workers 1 -q" >&2
valgrind --tool=callgrind --callgrind-out-file="$cg" \
  "$GAUNTLET_BIN" run "$PLAN" --url "$TARGET_URL" --workers 1 -q >"$log" 2>&1 || {
  echo "the run failed; see $log" >&2; tail -20 "$log" >&2; exit 1; }

# Requests actually sent, from the summary (the plan's iterations, one GET each).
reqs="$(awk '$1 ~ /^http_reqs\./ {print $2; exit}' "$log")"
failed="$(awk '$1 ~ /^http_req_failed\./ {print $2; exit}' "$log")"
[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { echo "no http_reqs in $log" >&2; exit 1; }

self="$(callgrind_annotate "$cg" 2>/dev/null)"
incl="$(callgrind_annotate --inclusive=yes "$cg" 2>/dev/null)"
num() { tr -d ,; }
total="$(awk '/PROGRAM TOTALS/ {print $1; exit}' <<<"$self" | num)"
# The collector's tick (merging the recorders, once a second); the line naming the binary.
tick="$(grep -F 'Monitor>::tick [' <<<"$incl" | awk '{print $1; exit}' | num || true)"
tick="${tick:-0}"

echo
echo "callgrind: $cg"
echo "requests:                     $reqs (failed: $failed)"
printf 'total Ir:                     %d\n' "$total"
printf 'Ir per request:               %d\n' "$((total / reqs))"
printf 'collector ticks Ir:           %d\n' "$tick"
printf 'Ir per request without ticks: %d\n' "$(((total - tick) / reqs))"
echo
echo "top $TOP functions by self Ir:"
# The function rows follow the second dashed rule after PROGRAM TOTALS.
awk -v top="$TOP" '
  /PROGRAM TOTALS/ {seen = 1; next}
  seen && /^-----/ {rules++; next}
  seen && rules >= 2 && NF && n < top {
    sub(/ \[[^]]*\]$/, ""); line = $0
    # keep "Ir (pct)" and the function name without its source file
    match(line, /^ *[0-9,]+ +\( *[0-9.]+%\) +/); head = substr(line, 1, RLENGTH)
    rest = substr(line, RLENGTH + 1); i = index(rest, ":"); if (i) rest = substr(rest, i + 1)
    printf "%s%s\n", head, substr(rest, 1, 140); n++
  }' <<<"$self"
