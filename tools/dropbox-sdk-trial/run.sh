#!/usr/bin/env bash
# Reruns the dropbox-sdk trial (docs/dropbox-sdk.md) on a copy of the
# committed tree, never on this checkout: the copy gets storage.patch
# (dropbox-sdk 0.21 as a dependency of droprender-storage, and a second
# transport chosen with DROPRENDER_DROPBOX_TRANSPORT=sdk), then the same
# Dropbox benchmark rows and fault suite run once per transport.
#
#   tools/dropbox-sdk-trial/run.sh              # storage tests, fault suite (long), bench rows
#   tools/dropbox-sdk-trial/run.sh --quick      # bounded fault suite, `-- --quick dropbox`
#   tools/dropbox-sdk-trial/run.sh --build-cost # also: clean release builds of droprender-storage
#                                               # with and without the SDK, and the node's size
#
# Output: $OUT (default /tmp/dropbox-sdk-trial/out), one file per step and
# transport. Needs network once (cargo fetches dropbox-sdk and 5 small crates).
set -euo pipefail

QUICK=0
COST=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    --build-cost) COST=1 ;;
    *) echo "usage: $0 [--quick] [--build-cost]" >&2; exit 2 ;;
  esac
done

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(git -C "$HERE" rev-parse --show-toplevel)
WORK=${WORK:-/tmp/dropbox-sdk-trial}
OUT=${OUT:-$WORK/out}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$WORK/target}
mkdir -p "$OUT"

# $1: directory; the committed tree (HEAD), with the patch if $2 is "sdk".
tree() {
  rm -rf "$1"
  mkdir -p "$1"
  git -C "$REPO" archive HEAD | tar -x -C "$1"
  if [ "$2" = sdk ]; then
    (cd "$1" && patch -p1 --quiet < "$HERE/storage.patch")
  fi
}

load() { cut -d' ' -f1-3 /proc/loadavg; }

tree "$WORK/src" sdk
cd "$WORK/src"
echo "trial tree: $WORK/src (HEAD $(git -C "$REPO" rev-parse --short HEAD) + storage.patch)"

for t in hand sdk; do
  export DROPRENDER_DROPBOX_TRANSPORT=$t
  echo "== $t: cargo test -p droprender-storage"
  cargo test -p droprender-storage > "$OUT/storage-tests-$t.txt" 2>&1
  tail -n 3 "$OUT/storage-tests-$t.txt"

  echo "== $t: reliability_dropbox (load $(load))"
  rm -rf "$CARGO_TARGET_DIR/reliability"
  if [ $QUICK = 1 ]; then
    cargo test -p droprender-node --test reliability_dropbox > "$OUT/reliability-$t.log" 2>&1
  else
    DROPRENDER_LONG=1 cargo test -p droprender-node --test reliability_dropbox > "$OUT/reliability-$t.log" 2>&1
  fi
  cat "$CARGO_TARGET_DIR"/reliability/dropbox-*.txt | tee "$OUT/reliability-$t.txt"

  echo "== $t: bench dropbox (load $(load))"
  if [ $QUICK = 1 ]; then
    cargo bench -p droprender-node --bench bench -- --quick dropbox > "$OUT/bench-$t.md" 2> "$OUT/bench-$t.err"
  else
    cargo bench -p droprender-node --bench bench -- dropbox > "$OUT/bench-$t.md" 2> "$OUT/bench-$t.err"
  fi
  grep '^| dropbox' "$OUT/bench-$t.md"
  grep '^dropbox: idle traffic' "$OUT/bench-$t.err" || true
done
unset DROPRENDER_DROPBOX_TRANSPORT

if [ $COST = 1 ]; then
  tree "$WORK/base" hand
  for t in hand sdk; do
    src=$WORK/src
    [ $t = hand ] && src=$WORK/base
    echo "== $t: clean release build of droprender-storage (load $(load))"
    rm -rf "$WORK/target-cost"
    (cd "$src" && CARGO_TARGET_DIR=$WORK/target-cost /usr/bin/time -f "%e s wall, %U s user, %S s sys" \
      cargo build --release -p droprender-storage --timings) > "$OUT/build-$t.log" 2>&1
    tail -n 1 "$OUT/build-$t.log"
    cp "$WORK/target-cost/cargo-timings/cargo-timing.html" "$OUT/build-timings-$t.html"
  done
  rm -rf "$WORK/target-cost"
  for t in sdk hand; do
    src=$WORK/src
    [ $t = hand ] && src=$WORK/base
    echo "== $t: release build of droprender-node, for its size (load $(load))"
    (cd "$src" && cargo bench -p droprender-node --bench bench --no-run) > "$OUT/node-$t.log" 2>&1
    cp "$CARGO_TARGET_DIR/release/droprender-node" "$OUT/droprender-node-$t"
  done
  for t in hand sdk; do
    strip -o "$OUT/droprender-node-$t.stripped" "$OUT/droprender-node-$t"
    echo "$t: $(stat -c %s "$OUT/droprender-node-$t") B, stripped $(stat -c %s "$OUT/droprender-node-$t.stripped") B"
  done
fi
echo "done; output in $OUT"
