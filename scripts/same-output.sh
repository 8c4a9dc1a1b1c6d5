#!/usr/bin/env bash
# Same output, byte for byte: runs every bundled experiment with two builds of cascade and
# compares their CSVs (runs.csv, summary.csv, timeseries.csv). Performance work must pass
# it: a faster engine that handles one event in a different order is a different engine.
#
# Usage: scripts/same-output.sh [REV] [-- extra run flags]
#   REV   the build to compare against (default: main's previous commit, HEAD~1);
#         built in a temporary worktree with its own target directory. A path to a
#         cascade binary is used as it is.
#   CASCADE_NEW=PATH uses that binary instead of building the working tree.
#   extra run flags default to `--replications 1` (every code path, a fraction of the
#         time); pass `--` alone to run the experiments as written.
set -euo pipefail
cd "$(dirname "$0")/.."
rev="${1:-HEAD~1}"
shift || true
[ "${1:-}" = "--" ] && shift
flags=("$@")
[ ${#flags[@]} -eq 0 ] && [ "${SAME_OUTPUT_FULL:-}" = "" ] && flags=(--replications 1)

work="${TMPDIR:-/tmp}/cascade-same-output"
mkdir -p "$work"
if [ -f "$rev" ] && [ -x "$rev" ]; then
  base_bin="$rev"
else
  base_src="$work/src-$(git rev-parse --short "$rev")"
  if [ ! -d "$base_src" ]; then
    git worktree add --detach "$base_src" "$rev" >/dev/null
  fi
  echo "same-output: building $rev" >&2
  CARGO_TARGET_DIR="$work/target-base" cargo build --release --quiet \
    --manifest-path "$base_src/Cargo.toml"
  base_bin="$work/target-base/release/cascade"
fi
if [ -n "${CASCADE_NEW:-}" ]; then
  new_bin="$CASCADE_NEW"
else
  echo "same-output: building the working tree" >&2
  cargo build --release --quiet
  new_bin="${CARGO_TARGET_DIR:-target}/release/cascade"
fi

status=0
for exp in experiments/*.toml; do
  name="$(basename "$exp" .toml)"
  for side in base new; do
    bin="$base_bin"; [ "$side" = new ] && bin="$new_bin"
    rm -rf "$work/out-$side/$name"
    "$bin" run "$exp" "${flags[@]}" --no-charts --quiet --out "$work/out-$side/$name" \
      >/dev/null 2>"$work/out-$side-$name.err" || true
  done
  same=1
  for f in runs.csv summary.csv timeseries.csv; do
    a="$work/out-base/$name/$f"; b="$work/out-new/$name/$f"
    if [ ! -f "$a" ] && [ ! -f "$b" ]; then continue; fi
    if ! cmp -s "$a" "$b"; then
      echo "DIFFERS: $name/$f" >&2
      status=1; same=0
    fi
  done
  if [ $same = 1 ]; then echo "same: $name" >&2; fi
done
if [ $status -eq 0 ]; then echo "same-output: OK: every bundled experiment's CSVs are byte-identical to $rev"; fi
exit $status
