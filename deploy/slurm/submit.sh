#!/usr/bin/env bash
# Submits a cascade experiment to Slurm as an N-task job array plus a merge job that
# runs when every task has succeeded.
#
#   deploy/slurm/submit.sh [--wait] EXPERIMENT OUTDIR N [cascade run flags...]
#
# OUTDIR must be on a file system every node sees. The result lands in OUTDIR/merged;
# each task's log in cascade-<array>_<k>.out in the submit directory. --wait returns
# when the merge has finished, with its exit status. CASCADE=/path/to/cascade if the
# binary is not on the nodes' PATH (the environment is passed to the jobs).
set -euo pipefail
wait=()
if [ "${1:-}" = --wait ]; then wait=(--wait); shift; fi
if [ $# -lt 3 ]; then
  echo "usage: $0 [--wait] EXPERIMENT OUTDIR N [cascade run flags...]" >&2
  exit 2
fi
experiment=$1 out=$2 n=$3
shift 3
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
array=$(sbatch --parsable --array="1-$n" "$here/cascade-array.sbatch" "$experiment" "$out" "$@")
array=${array%%;*}
echo "submitted array job $array ($n shards of $experiment)"
merge=$(sbatch --parsable "${wait[@]}" --dependency="afterok:$array" --kill-on-invalid-dep=yes \
  "$here/cascade-merge.sbatch" "$out" "$n")
if [ ${#wait[@]} -gt 0 ]; then
  echo "merge job ${merge%%;*} finished: $out/merged"
else
  echo "merge job ${merge%%;*} will write $out/merged once the array has succeeded"
fi
