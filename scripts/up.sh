#!/usr/bin/env bash
# The main job: install, bring up a 3-node pycoreos cluster (etcd + fleet on every node, from
# examples/cloud-config.yaml), show its status, and start examples/hello.service through
# fleet. Interactively the cluster keeps running (stop it with `pycoreos cluster down`);
# with CI=true or without a terminal it is torn down again and the script exits 0.
#   Extra arguments go to `pycoreos cluster up` (e.g. --netns, -n 5, --container-engine none).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
STATE="${PYCOREOS_STATE_DIR:-.state/cluster}"
interactive=1
if [ "${CI:-}" = "true" ] || [ ! -t 0 ]; then interactive=0; fi

pycoreos cluster --state-dir "$STATE" down --purge >/dev/null 2>&1 || true
if [ $interactive -eq 0 ]; then
    trap 'pycoreos cluster --state-dir "$STATE" down --purge' EXIT
fi
exports="$(pycoreos cluster --state-dir "$STATE" up --config examples/cloud-config.yaml "$@")"
echo "$exports"
eval "$exports"

set -x
pycoreos etcdctl cluster-health
pycoreos etcdctl member list
pycoreos fleetctl list-machines
pycoreos fleetctl start examples/hello.service
pycoreos fleetctl list-units
set +x
for _ in $(seq 50); do
    pycoreos fleetctl list-units --no-legend | grep -q "hello.service.*active.*running" && break
    sleep 0.2
done
pycoreos fleetctl journal --lines 3 hello.service || true
COLUMNS=140 pycoreos cluster --state-dir "$STATE" status

if [ $interactive -eq 1 ]; then
    cat <<MSG

The cluster is running (state in $STATE). In this shell:
$exports
  pycoreos fleetctl list-units                          # where hello.service runs
  pycoreos cluster --state-dir $STATE kill node1        # pull a machine's plug; units move
  pycoreos cluster --state-dir $STATE restart node1     # boot it again with its data
  pycoreos cluster --state-dir $STATE down [--purge]    # stop everything
MSG
fi
