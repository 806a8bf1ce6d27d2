#!/usr/bin/env bash
# Install everything pycoreos and its tests need on a fresh Debian machine (idempotent).
#  - Debian: etcd-server + etcd-client (the real etcd 3.4 and etcdctl, run beside ours in the
#    compatibility tests and benchmarks), wrk (the load generator behind `pycoreos benchmark`),
#    and for the unit manager's tests: systemd-container + debootstrap (a real systemd booted
#    in nspawn), docker.io (a container engine), busybox-static (a tiny image for it).
#  - Python: a virtualenv in .venv with pycoreos installed editable, with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need_apt+=(etcd-client)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v systemd-nspawn >/dev/null 2>&1 || need_apt+=(systemd-container)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
[ -x /bin/busybox ] || need_apt+=(busybox-static)
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
echo "setup: ok ($(.venv/bin/pycoreos --version))"
