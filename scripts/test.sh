#!/usr/bin/env bash
# The tests, as the README says: the Rust suite, a real Slurm job array on a private
# single-node cluster, and the structure of the Kubernetes manifests.
#
# Installs the Debian packages the tests need when they are missing (as root, with
# apt-get): slurm-wlm and munge for the cluster, procps for kill(1) in the interrupt
# tests, python3-yaml for the manifest check, chromium to open report.html in a real
# (headless) browser. Elsewhere it fails, saying what to install: a test whose tool is
# missing never passes silently.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
need() { command -v "$1" >/dev/null || packages+=("$2"); }
need sbatch slurm-wlm
need slurmctld slurm-wlm
need munged munge
need kill procps
need python3 python3
need chromium chromium
python3 -c 'import yaml' 2>/dev/null || packages+=(python3-yaml)
if [ ${#packages[@]} -gt 0 ]; then
  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test: installing ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  else
    echo "test: FAIL: missing ${packages[*]}: install them (Debian: apt-get install ${packages[*]})" >&2
    exit 1
  fi
fi

cargo test --release
scripts/check-deploy.sh
scripts/slurm-test.sh
