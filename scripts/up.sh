#!/usr/bin/env bash
# The main job: install, start one pycoreos etcd member on 127.0.0.1:2379/4001, show a few
# etcdctl calls against it, and keep it running until Ctrl-C (or exit at once with CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p .state
pycoreos etcd --name infra0 --data-dir .state/infra0.etcd \
    --listen-client-urls http://127.0.0.1:2379,http://127.0.0.1:4001 \
    --advertise-client-urls http://127.0.0.1:2379,http://127.0.0.1:4001 \
    --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster infra0=http://127.0.0.1:2380 > .state/infra0.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 100); do
    curl -sf http://127.0.0.1:2379/health >/dev/null 2>&1 && break
    sleep 0.1
done
export ETCDCTL_ENDPOINTS=http://127.0.0.1:2379
set -x
pycoreos etcdctl set /message "hello from pycoreos"
pycoreos etcdctl get /message
pycoreos etcdctl mkdir /queue
pycoreos etcdctl ls --recursive /
ETCDCTL_API=2 etcdctl --endpoints http://127.0.0.1:4001 get /message
pycoreos etcdctl cluster-health
set +x
if [ "${CI:-}" = "true" ] || [ ! -t 0 ]; then exit 0; fi
echo "pycoreos etcd is running (pid $pid, log .state/infra0.log). Ctrl-C to stop."
wait $pid
