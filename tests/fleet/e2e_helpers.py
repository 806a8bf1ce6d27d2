"""Start fleetd processes (builtin unit manager, own root each) and run fleetctl."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pycoreos.testing.procs import free_ports


@dataclass
class Fleetd:
    root: Path
    proc: subprocess.Popen[bytes]
    sock: Path
    port: int

    @property
    def machine_id(self) -> str:
        return (self.root / "etc/machine-id").read_text().strip()

    def children(self) -> list[int]:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        )
        return [int(x) for x in out.stdout.split()]

    def kill_with_units(self) -> None:
        kids = self.children()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        for pid in kids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill_with_units()


def start_fleetd(
    base: Path,
    i: int,
    etcd: str,
    prefix: str,
    *,
    ttl: str = "3s",
    meta: str = "",
    extra: dict[str, str] | None = None,
) -> Fleetd:
    root = base / f"m{i}"
    root.mkdir(parents=True, exist_ok=True)
    (port,) = free_ports(1)
    sock = root / "run/fleet.sock"
    env = dict(os.environ)
    env.update(
        FLEET_ETCD_SERVERS=etcd,
        FLEET_ETCD_KEY_PREFIX=prefix,
        FLEET_AGENT_TTL=ttl,
        FLEET_ENGINE_RECONCILE_INTERVAL="0.3",
        FLEET_AGENT_RECONCILE_INTERVAL="1",
        FLEET_ETCD_REQUEST_TIMEOUT="2",
        FLEET_ROOT=str(root),
        FLEET_API_SOCKET="/run/fleet.sock",
        FLEET_API_LISTEN=f"127.0.0.1:{port}",
        FLEET_METADATA=meta,
        FLEET_UNIT_MANAGER="builtin:pgroup",
        FLEET_ENABLE_REMOTE_EXEC="1",
    )
    env.update(extra or {})
    log = open(base / f"fleetd{i}.log", "ab")  # noqa: SIM115  # the child keeps its own copy
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pycoreos", "fleetd"], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((base / f"fleetd{i}.log").read_text())
        time.sleep(0.05)
    while True:  # the TCP listener opens right after the socket
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((base / f"fleetd{i}.log").read_text()) from None
            time.sleep(0.05)
    return Fleetd(root, proc, sock, port)


def fleetctl(
    sock: Path, *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "pycoreos", "fleetctl", f"--endpoint=unix://{sock}", *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if check and r.returncode != 0:
        raise AssertionError(f"fleetctl {args} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


class CutProxy:
    """A TCP proxy in front of etcd's client port for one fleetd, on its own thread.

    ``cut()`` is fleet's ``TestSingleNodeConnectivityLoss`` (iptables REJECT): live
    connections are reset and new ones closed at once; ``heal()`` lets traffic through again.
    """

    def __init__(self, target_port: int) -> None:
        import asyncio
        import threading

        (self.port,) = free_ports(1)
        self.target_port = target_port
        self.cut_now = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._accept, "127.0.0.1", self.port)
            )
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _accept(self, r, w) -> None:
        import asyncio
        import contextlib

        if self.cut_now:
            w.transport.abort()
            return
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            w.transport.abort()
            return
        self._writers |= {w, uw}

        async def pump(src, dst) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pump(r, uw), pump(ur, w))
        self._writers -= {w, uw}

    def cut(self) -> None:
        def fn() -> None:
            self.cut_now = True
            for w in list(self._writers):
                w.transport.abort()

        self._loop.call_soon_threadsafe(fn)

    def heal(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "cut_now", False)

    def close(self) -> None:
        self.cut()

        def fn() -> None:
            self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(fn)
        self._thread.join(5)
        for t in asyncio_all_tasks(self._loop):
            t.cancel()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()


def asyncio_all_tasks(loop):
    import asyncio

    return asyncio.all_tasks(loop)


def metric(port: int, name: str) -> float:
    import re
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(rf"(?m)^{name} (\S+)$", text)
    assert m is not None, name
    return float(m.group(1))
