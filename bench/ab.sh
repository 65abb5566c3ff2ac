#!/usr/bin/env bash
# A/B of gauntlet builds against wrk, closed loop: whether a change moved the
# requests per CPU-second (docs/performance.md). Rounds are interleaved (wrk, then
# each build), every run pinned to core 1 with `taskset`, 64 connections, D seconds,
# against nginx on 127.0.0.1:28080 (bench/targets.sh start nginx). Prints each run's
# requests per CPU-second (the tool's own request count over user + system time from
# /usr/bin/time) and its ratio to the same round's wrk. The machine is noisy: compare
# medians over several rounds, and prefer bench/callgrind.sh for small changes.
#   bench/ab.sh /tmp/gauntlet-before /tmp/gauntlet-after
# Env: D (5), ROUNDS (3), URL (http://127.0.0.1:28080/), PLAN (bench/plans/get.yaml).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
D="${D:-5}"
ROUNDS="${ROUNDS:-3}"
URL="${URL:-http://127.0.0.1:28080/}"
PLAN="${PLAN:-$HERE/plans/get.yaml}"
[ "$#" -ge 1 ] || { echo "usage: bench/ab.sh GAUNTLET_BIN [GAUNTLET_BIN...]" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is not installed (bench/setup.sh)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
ulimit -n 20000 2>/dev/null || true
curl -fsS -o /dev/null "$URL" \
  || { echo "nothing answers at $URL (bench/targets.sh start nginx)" >&2; exit 1; }

# "requests cpu-seconds" of one run; the last line of the output is /usr/bin/time's.
measure() {
  local out
  out="$(taskset -c 1 /usr/bin/time -f "%U %S" "$@" 2>&1)"
  local cpu
  cpu="$(tail -1 <<<"$out" | awk '{print $1 + $2}')"
  if [ "$1" = wrk ]; then
    awk -v c="$cpu" '/requests in/ {print $1, c; exit}' <<<"$out"
  else
    awk -v c="$cpu" '$1 ~ /^http_reqs\./ {print $2, c; exit}' <<<"$out"
  fi
}

for r in $(seq 1 "$ROUNDS"); do
  read -r n cpu < <(measure wrk -t1 -c64 -d"${D}s" "$URL")
  wrk_rate="$(awk -v n="$n" -v c="$cpu" 'BEGIN {printf "%.0f", n / c}')"
  printf 'round %d  %-28s %9d req/CPU-s  (%s CPU-s)\n' "$r" wrk "$wrk_rate" "$cpu"
  for bin in "$@"; do
    read -r n cpu < <(measure "$bin" run "$PLAN" --url "$URL" --vus 64 --duration "${D}s" -q)
    awk -v r="$r" -v b="$bin" -v n="$n" -v c="$cpu" -v w="$wrk_rate" \
      'BEGIN {printf "round %d  %-28s %9.0f req/CPU-s  (%s CPU-s)  ratio to wrk %.3f\n", r, b, n / c, c, n / c / w}'
  done
done
