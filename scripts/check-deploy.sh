#!/usr/bin/env bash
# Checks the cluster files of deploy/ for the mistakes that only show on a cluster:
# the Kubernetes manifests parse, the shard Job is Indexed with one shard per
# completion index, SHARDS equals completions in both Jobs, the shell (not Kubernetes)
# expands the index; the Slurm scripts are valid bash and ask for an array. The Slurm
# scripts themselves run for real in scripts/slurm-test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() {
  echo "deploy: FAIL: $*" >&2
  echo "deploy: 0 passed, 1 failed"
  exit 1
}
command -v python3 >/dev/null || fail "python3 not found: apt-get install python3 python3-yaml"
python3 -c 'import yaml' 2>/dev/null || fail "python3 has no yaml module: apt-get install python3-yaml"
for f in deploy/slurm/*.sbatch deploy/slurm/*.sh; do
  bash -n "$f" || fail "$f is not valid bash"
done
grep -q '^#SBATCH --array=' deploy/slurm/cascade-array.sbatch || fail "the array script asks for no array"
python3 - <<'PY' || fail "deploy/kubernetes: see above"
import glob, sys, yaml
docs = [d for f in sorted(glob.glob("deploy/kubernetes/*.yaml")) for d in yaml.safe_load_all(open(f)) if d]
jobs = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Job"}
def env(job):
    c = job["spec"]["template"]["spec"]["containers"][0]
    return c, {e["name"]: e["value"] for e in c.get("env", [])}
shards = jobs["cascade-shards"]
spec = shards["spec"]
assert spec["completionMode"] == "Indexed", "the shard Job is not Indexed"
c, e = env(shards)
assert int(e["SHARDS"]) == spec["completions"], "SHARDS differs from completions"
script = " ".join(c["args"])
assert "--shard" in script and "$$((JOB_COMPLETION_INDEX + 1))" in script, "no shard from the completion index"
assert "--resume" in script, "a retried index would start over"
merge = jobs["cascade-merge"]
_, me = env(merge)
assert me["SHARDS"] == e["SHARDS"], "the merge Job expects another shard count"
assert "cascade merge" in " ".join(env(merge)[0]["args"])
claims = {d["metadata"]["name"] for d in docs if d.get("kind") == "PersistentVolumeClaim"}
for j in jobs.values():
    for v in j["spec"]["template"]["spec"]["volumes"]:
        assert v["persistentVolumeClaim"]["claimName"] in claims, "a volume names no claim"
print(f"deploy: {len(docs)} Kubernetes objects, Indexed Job of {spec['completions']} shards, merge Job")
PY
echo "deploy: 1 passed, 0 failed"
