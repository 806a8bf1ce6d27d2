"""A cluster of real ``pycoreos etcd`` processes behind peer proxies, with fault controls.

:class:`TortureCluster` owns the processes (started in their own session, stopped by PID only),
one :class:`~pycoreos.testing.peerproxy.PeerProxy` per member and the bookkeeping the checks
need: when each member was (re)started, which exits were deliberate, each member's log.

Invariants:

* Every member advertises its proxy's port, so all peer traffic into it can be cut or delayed.
* A process exit is *unexpected* unless the scenario announced it (:meth:`kill`, a failpoint or
  a disk fault it armed: :meth:`expect_exit`). Unexpected exits fail the run (U6).
* A member's environment (failpoints, disk faults) is per start: :meth:`restart` takes the
  environment of the next life, so a crash failpoint is not re-armed by accident.

With ``tls=True`` every member serves its client API and peer API over https with client
certificates required on both (certificates from :mod:`.pki`), and every request of the
harness and the workload presents the client certificate. Peer traffic is then unreadable to
the proxies, so each member advertises (and dials its peers from) its own loopback address
127.0.0.K and the proxies tell the dialers apart by source address (see
:mod:`pycoreos.testing.peerproxy`).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import shutil
import signal
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

from pycoreos.robustness.client import RawAnswer, V2Conn
from pycoreos.robustness.pki import ClusterPki, member_peer_host
from pycoreos.server.membership import compute_member_id
from pycoreos.testing.peerproxy import PeerProxy, ProxyNet
from pycoreos.testing.procs import Member, free_ports, start_member

__all__ = ["ClusterError", "Node", "TortureCluster"]

TOKEN = "etcd-cluster"
# A traceback or a critical log line is a crash unless the member was expected to die.
_CRASH = re.compile(r"Traceback \(most recent call last\)|CRITICAL|panic", re.IGNORECASE)


class ClusterError(Exception):
    """The harness could not bring the cluster to the state a scenario asked for."""


@dataclass
class _Life:
    """One process of a member: where its log starts, and whether its end was planned."""

    log_path: Path
    offset: int
    expected_end: bool = False


@dataclass
class Node:
    """One member slot: ports, data, the current process, and its history."""

    name: str
    client_port: int
    peer_port: int
    proxy_port: int
    member_id: int
    extra_args: list[str]
    initial_cluster: str
    proc: Member | None = None
    starts: list[float] = field(default_factory=list)
    expect_exit: bool = False
    exits: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    paused: bool = False
    removed: bool = False
    lives: list[_Life] = field(default_factory=list)
    scheme: str = "http"
    peer_host: str = "127.0.0.1"  # advertised peer host (127.0.0.K on a TLS cluster)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.proc.poll() is None

    @property
    def peer_url(self) -> str:
        """The advertised peer URL: the member's proxy."""
        return f"{self.scheme}://{self.peer_host}:{self.proxy_port}"


class TortureCluster:
    """``size`` members of ours on loopback; see the module docstring."""

    def __init__(
        self,
        base_dir: Path,
        size: int,
        *,
        seed: int = 0,
        extra_args: list[str] | None = None,
        election_timeout: float = 1.0,
        tls: bool = False,
    ) -> None:
        self.base_dir = base_dir
        self.size = size
        self.extra_args = list(extra_args or [])
        self.election_timeout = election_timeout
        self.pki = ClusterPki(base_dir / "pki") if tls else None
        self.client_ssl: ssl.SSLContext | None = (
            self.pki.client_context() if self.pki is not None else None
        )
        self.net = ProxyNet(seed)
        self.nodes: list[Node] = []
        self._proxies: dict[str, PeerProxy] = {}
        self._generation = 0

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, env: dict[str, dict[str, str]] | None = None) -> None:
        """Start every member (``env`` per member name) and wait until the cluster serves."""
        env = env or {}
        ports = free_ports(3 * self.size)
        names = [f"m{i}" for i in range(1, self.size + 1)]
        nodes = [
            self._new_node(n, ports[i], ports[self.size + i], ports[2 * self.size + i], [])
            for i, n in enumerate(names)
        ]
        initial = ",".join(f"{n.name}={n.peer_url}" for n in nodes)
        for node in nodes:
            node.initial_cluster = initial
            node.member_id = compute_member_id([node.peer_url], TOKEN)
            self.net.bind(node.member_id, self._proxies[node.name])
            if self.pki is not None:
                self.net.bind_source(node.peer_host, node.member_id)
        for node in self.nodes:
            self._spawn(node, env.get(node.name, {}))
        for node in self.nodes:
            try:
                self._wait_ready(node, 60)
            except (RuntimeError, TimeoutError) as exc:
                raise ClusterError(f"{node.name} did not start: {exc}") from exc
        self.wait_healthy(30)

    def _new_node(
        self, name: str, client_port: int, peer_port: int, proxy_port: int, extra: list[str]
    ) -> Node:
        """A member slot with its proxy (member id and initial cluster are filled in later).

        On a TLS cluster the slot gets its own loopback address and certificates, and its
        flags switch every URL to https.
        """
        node = Node(name, client_port, peer_port, proxy_port, 0, [*self.extra_args, *extra], "")
        if self.pki is not None:
            node.scheme = "https"
            node.peer_host = member_peer_host(len(self.nodes))
            certs = self.pki.member(name, node.peer_host)
            client = f"https://127.0.0.1:{client_port}"
            # Given after procs' plain URLs: the last occurrence of a flag wins.
            node.extra_args += [
                "--listen-client-urls", client,
                "--advertise-client-urls", client,
                "--listen-peer-urls", f"https://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls", node.peer_url,
                *self.pki.member_args(certs),
            ]  # fmt: skip
        self._proxies[name] = self.net.add(proxy_port, peer_port, node.peer_host)
        self.nodes.append(node)
        return node

    def _wait_ready(self, node: Node, timeout: float) -> None:
        """Poll ``node``'s ``/v2/keys/`` until it answers 200 (a process gives no other sign).

        Raises:
            RuntimeError: the process exited first.
            TimeoutError: not ready within ``timeout`` seconds.
        """
        assert node.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc.proc.poll() is not None:
                raise RuntimeError(f"member exited with {node.proc.proc.returncode} before ready")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.request(node, "GET", "/v2/keys/", timeout=1.0).status == 200:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{node.name} not ready after {timeout}s")

    def _spawn(self, node: Node, env: dict[str, str]) -> None:
        self._generation += 1
        log_path = self.base_dir / f"ours-{node.name}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        full_env = {**env, "PYTHONUNBUFFERED": "1"}
        member = start_member(
            "ours",
            self.base_dir,
            name=node.name,
            extra_args=node.extra_args,
            env=full_env,
            ports=(node.client_port, node.peer_port),
            wait=False,
            initial_cluster=node.initial_cluster,
            advertise_peer_port=node.proxy_port,
        )
        node.proc = member
        node.expect_exit = False
        node.paused = False
        node.starts.append(time.monotonic())
        node.lives.append(_Life(member.log_path, offset))

    def close(self) -> None:
        """Kill every member (by PID) and stop the proxies."""
        for node in self.nodes:
            if node.proc is not None:
                with contextlib.suppress(Exception):
                    if node.paused:
                        node.proc.proc.send_signal(signal.SIGCONT)
                    node.proc.kill()
        self.net.close()

    # -- views ----------------------------------------------------------------------------
    def live(self) -> list[Node]:
        """Members that are part of the cluster (not removed)."""
        return [n for n in self.nodes if not n.removed]

    def ports(self) -> list[int]:
        """Client ports of every current member (running or not: clients see failures)."""
        return [n.client_port for n in self.live()]

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def request(
        self, node: Node, method: str, path: str, params: dict[str, str] | None = None, *,
        timeout: float = 2.0,
    ) -> RawAnswer:  # fmt: skip
        """One request to ``node``'s client port (raises OSError on failure)."""
        return V2Conn(node.client_port, timeout, self.client_ssl).send(method, path, params)

    def _self_stats(self, node: Node) -> dict[str, object] | None:
        if not node.running or node.paused:
            return None
        try:
            ans = self.request(node, "GET", "/v2/stats/self", timeout=1.0)
        except Exception:  # the member is down or slow: no answer is an answer
            return None
        return ans.body if ans.status == 200 and isinstance(ans.body, dict) else None

    def leader(self, timeout: float = 15.0) -> Node:
        """The member that reports itself leader (waits for exactly one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = []
            for n in self.live():
                st = self._self_stats(n)
                if st is not None and st.get("state") == "StateLeader":
                    leaders.append(n)
            if len(leaders) == 1:
                return leaders[0]
            time.sleep(0.05)
        raise ClusterError(f"no single leader within {timeout}s")

    def followers(self, leader: Node | None = None) -> list[Node]:
        leader = leader or self.leader()
        return [n for n in self.live() if n is not leader]

    def term(self) -> int:
        """Highest raft term any running member reports (0 if none answers)."""
        best = 0
        for n in self.live():
            if not n.running or n.paused:
                continue
            with contextlib.suppress(Exception):
                t = self.request(n, "GET", "/v2/keys/", timeout=1.0).header_int("x-raft-term")
                best = max(best, t or 0)
        return best

    # -- process faults -------------------------------------------------------------------
    def expect_exit(self, node: Node) -> None:
        """The scenario armed something that will end ``node``'s process: not a crash."""
        node.expect_exit = True
        if node.lives:
            node.lives[-1].expected_end = True

    def kill(self, node: Node) -> None:
        """SIGKILL ``node`` (a deliberate crash)."""
        if node.proc is not None:
            self.expect_exit(node)
            if node.paused:
                node.proc.proc.send_signal(signal.SIGCONT)
                node.paused = False
            node.proc.kill()
            node.exits.append(f"killed at {time.monotonic():.3f}")

    def restart(self, node: Node, env: dict[str, str] | None = None, *, wait: bool = True) -> bool:
        """Start ``node`` again on its data; True once it serves (False if it exits first)."""
        if node.running:
            raise ClusterError(f"{node.name} is still running")
        self.poll_exits()
        self._spawn(node, env or {})
        if not wait:
            return True
        try:
            self._wait_ready(node, 60)
        except (RuntimeError, TimeoutError):
            return False
        return True

    def pause(self, node: Node) -> None:
        """SIGSTOP ``node``."""
        if node.proc is not None and node.running:
            node.proc.proc.send_signal(signal.SIGSTOP)
            node.paused = True

    def resume(self, node: Node) -> None:
        """SIGCONT ``node``."""
        if node.proc is not None and node.paused:
            node.proc.proc.send_signal(signal.SIGCONT)
            node.paused = False

    def wait_exit(self, node: Node, timeout: float) -> bool:
        """Wait up to ``timeout`` s for ``node``'s process to end; True if it did."""
        if node.proc is None:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc.proc.poll() is not None:
                return True
            time.sleep(0.05)
        return False

    def poll_exits(self) -> None:
        """Record processes that ended since the last look (unexpected ones fail U6)."""
        for n in self.nodes:
            if n.proc is None:
                continue
            rc = n.proc.proc.poll()
            if rc is None or any(e.startswith(f"pid {n.proc.proc.pid} ") for e in n.exits):
                continue
            what = f"pid {n.proc.proc.pid} exited with {rc}"
            n.exits.append(what)
            if not n.expect_exit and not n.removed:
                n.unexpected.append(what)

    def data_dir(self, node: Node) -> Path:
        return self.base_dir / f"ours-{node.name}.etcd"

    # -- membership -----------------------------------------------------------------------
    def add_member(self, name: str, via: Node, env: dict[str, str] | None = None) -> Node:
        """Add a member through ``via`` (``POST /v2/members``), then start it empty."""
        client_port, peer_port, proxy_port = free_ports(3)
        names = [f"{n.name}={n.peer_url}" for n in self.live()]
        node = self._new_node(
            name, client_port, peer_port, proxy_port, ["--initial-cluster-state", "existing"]
        )
        ans = V2Conn(via.client_port, 15.0, self.client_ssl).send_json(
            "POST", "/v2/members", {"peerURLs": [node.peer_url]}
        )
        if ans.status != 201 or not isinstance(ans.body, dict):
            self.nodes.remove(node)
            raise ClusterError(f"member add via {via.name}: {ans.status} {ans.body}")
        node.member_id = int(str(ans.body["id"]), 16)
        node.initial_cluster = ",".join([*names, f"{name}={node.peer_url}"])
        self.net.bind(node.member_id, self._proxies[name])
        if self.pki is not None:
            self.net.bind_source(node.peer_host, node.member_id)
        self._spawn(node, env or {})
        try:
            self._wait_ready(node, 60)
        except (RuntimeError, TimeoutError) as exc:
            raise ClusterError(f"new member {name} did not start: {exc}") from exc
        return node

    def remove_member(self, node: Node, via: Node) -> None:
        """Remove ``node`` through ``via`` (``DELETE /v2/members/<id>``); it shuts down."""
        ans = V2Conn(via.client_port, 15.0, self.client_ssl).send(
            "DELETE", f"/v2/members/{node.member_id:x}"
        )
        if ans.status != 204:
            raise ClusterError(f"member remove of {node.name}: {ans.status} {ans.body}")
        node.removed = True
        self.expect_exit(node)
        if node.proc is not None and not self.wait_exit(node, 10):
            node.proc.kill()
        self.net.remove(node.member_id)

    def wipe(self, node: Node) -> None:
        """Delete ``node``'s data directory (it must not be running)."""
        if node.running:
            raise ClusterError(f"{node.name} is still running")
        shutil.rmtree(self.data_dir(node), ignore_errors=True)

    # -- health and convergence (U4) ------------------------------------------------------
    def wait_healthy(self, timeout: float) -> list[str]:
        """Wait until every live member answers ``/health`` 200; returns the ones that did not."""
        deadline = time.monotonic() + timeout
        pending = list(self.live())
        while pending and time.monotonic() < deadline:
            still = []
            for n in pending:
                ok = False
                with contextlib.suppress(Exception):
                    ok = self.request(n, "GET", "/health", timeout=1.0).status == 200
                if not ok:
                    still.append(n)
            pending = still
            if pending:
                time.sleep(0.1)
        return [n.name for n in pending]

    def digest(self, node: Node) -> tuple[int, str]:
        """(X-Etcd-Index, hash of the recursive listing without TTL countdowns) of ``node``."""
        ans = self.request(node, "GET", "/v2/keys/", {"recursive": "true", "sorted": "true"})
        if ans.status != 200:
            raise ClusterError(f"{node.name}: listing answered {ans.status}")
        body = _strip_ttl(ans.body)
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        return ans.header_int("x-etcd-index") or 0, digest

    def converge(self, tries: int = 7, every: float = 1.0) -> list[str]:
        """U4: same index and store hash on every live member within ``tries`` looks."""
        last: dict[str, tuple[int, str] | str] = {}
        for i in range(tries):
            last = {}
            for n in self.live():
                try:
                    last[n.name] = self.digest(n)
                except Exception as exc:
                    last[n.name] = repr(exc)
            values = list(last.values())
            if all(isinstance(v, tuple) for v in values) and len(set(values)) == 1:
                return []
            if i + 1 < tries:
                time.sleep(every)
        return [f"U4: members did not converge after {tries} tries: {last}"]

    # -- logs (U6) ------------------------------------------------------------------------
    def crash_lines(self) -> list[str]:
        """U6: tracebacks/critical lines in the logs of member lives that were not meant to end
        (a life killed on purpose or crashed by an armed fault may show its panic)."""
        problems = []
        for n in self.nodes:
            for life in n.lives:
                if life.expected_end:
                    continue
                with contextlib.suppress(OSError), open(life.log_path, "rb") as f:
                    f.seek(life.offset)
                    raw = f.read()
                    # Stop at the next life's start (same file, appended).
                    later = [x.offset for x in n.lives if x.offset > life.offset]
                    if later:
                        raw = raw[: min(later) - life.offset]
                    for line in raw.decode(errors="replace").splitlines():
                        if _CRASH.search(line):
                            problems.append(f"U6: {n.name} log: {line.strip()[:200]}")
                            break
        return problems

    def copy_logs(self, dest: Path) -> None:
        """Copy every member's log into ``dest``."""
        dest.mkdir(parents=True, exist_ok=True)
        for n in self.nodes:
            for p in {life.log_path for life in n.lives}:
                with contextlib.suppress(OSError):
                    shutil.copy(p, dest / p.name)


def _strip_ttl(body: object) -> object:
    if isinstance(body, dict):
        return {k: _strip_ttl(v) for k, v in body.items() if k not in ("ttl", "expiration")}
    if isinstance(body, list):
        return [_strip_ttl(v) for v in body]
    return body


def member_env(failpoints: str = "", disk_faults: str = "", unsafe: bool = False) -> dict[str, str]:
    """Environment of one member life: failpoints, disk faults, the unsafe knob."""
    env: dict[str, str] = {}
    if failpoints:
        env["PYCOREOS_FAILPOINTS"] = failpoints
    if disk_faults:
        env["PYCOREOS_DISK_FAULTS"] = disk_faults
    if unsafe:
        env["PYCOREOS_UNSAFE_LOCAL_QUORUM_READS"] = "1"
    return env
