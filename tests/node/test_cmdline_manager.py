"""The node's kernel command line (which one, what it does), where its user-data comes
from, its units' default environment, and which unit manager it runs."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pycoreos.cloudinit.cmdline import AUTOLOGIN_DROP_IN, GETTY, SERIAL_GETTY, KernelCmdline
from pycoreos.cloudinit.errors import DatasourceError
from pycoreos.node import (
    ContainerEngine,
    NodeConfig,
    RefusedError,
    ServiceFacts,
    UnitManagerKind,
    choose_manager,
    default_environment,
    kernel_cmdline,
    lock_root,
    prepare,
    read_status,
    read_user_data,
    run_node,
)
from pycoreos.units.client import UnitClient
from pycoreos.units.manager import JobResult, UnitStatus

ROOT = Path("/")


def _node(tmp_path: Path, config: str | None = "#cloud-config\n", **kw: object) -> NodeConfig:
    f: Path | None = None
    if config is not None:
        f = tmp_path / "user-data"
        f.write_text(config)
    return NodeConfig(
        config_file=f,
        root=tmp_path / "root",
        private_ipv4="10.1.2.3",
        container_engine=ContainerEngine.NONE,
        python="/py",
        **kw,  # type: ignore[arg-type]
    )


@contextlib.contextmanager
def _locked(cfg: NodeConfig) -> Iterator[None]:
    fd = lock_root(cfg)
    try:
        yield
    finally:
        os.close(fd)


# ---- which unit manager -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "root", "booted", "want"),
    [
        (UnitManagerKind.AUTO, ROOT, True, UnitManagerKind.SYSTEMD),
        (UnitManagerKind.AUTO, ROOT, False, UnitManagerKind.BUILTIN),
        # A node root on a systemd host: host systemd never reads units below it.
        (UnitManagerKind.AUTO, Path("/srv/node1"), True, UnitManagerKind.BUILTIN),
        (UnitManagerKind.BUILTIN, ROOT, True, UnitManagerKind.BUILTIN),
        (UnitManagerKind.SYSTEMD, ROOT, True, UnitManagerKind.SYSTEMD),
    ],
)
def test_unit_manager_selection(kind, root, booted, want):
    assert choose_manager(kind, root=root, systemd_booted=booted) is want


@pytest.mark.parametrize(
    ("root", "booted", "why"),
    [(ROOT, False, "systemd is not PID 1"), (Path("/srv/n"), True, "needs --root /")],
)
def test_asking_for_systemd_where_it_cannot_work_is_refused(root, booted, why):
    with pytest.raises(RefusedError, match=why):
        choose_manager(UnitManagerKind.SYSTEMD, root=root, systemd_booted=booted)


def test_impossible_unit_manager_refuses_before_touching_the_root(tmp_path):
    cfg = _node(tmp_path, unit_manager=UnitManagerKind.SYSTEMD)
    with pytest.raises(RefusedError, match="systemd"):
        prepare(cfg)
    assert not (tmp_path / "root").exists()


# ---- which command line ---------------------------------------------------------------


def test_command_line_is_the_flag_else_proc_for_root_slash_else_empty(tmp_path):
    proc = tmp_path / "cmdline"
    proc.write_text("BOOT_IMAGE=/vmlinuz coreos.oem.id=vmware coreos.autologin\n")
    given = _node(tmp_path, cmdline="coreos.autologin=ttyS0")
    assert kernel_cmdline(given, proc=proc).autologin == ("ttyS0",)
    host = NodeConfig(config_file=None, root=ROOT)
    got = kernel_cmdline(host, proc=proc)
    assert (got.oem_id, got.autologin) == ("vmware", ())
    # A node root shares the host's kernel, whose command line is not the node's.
    assert kernel_cmdline(_node(tmp_path), proc=proc) == KernelCmdline()
    assert kernel_cmdline(host, proc=tmp_path / "missing") == KernelCmdline()


# ---- where user-data comes from ---------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, s: float) -> None:
        self.now += s

    def monotonic(self) -> float:
        return self.now


def test_config_file_wins_over_the_command_line_url(tmp_path):
    cfg = _node(tmp_path, "#cloud-config\nhostname: f\n")
    got = read_user_data(cfg, KernelCmdline(config_url="http://x/"), get=lambda u: b"no")
    assert (got.data, got.source) == (b"#cloud-config\nhostname: f\n", f"file:{cfg.config_file}")


def test_url_user_data_404_empty_and_none(tmp_path):
    cfg = _node(tmp_path, None)
    bodies = {"http://h/ud": b"#cloud-config\n", "http://h/404": None}
    got = read_user_data(cfg, KernelCmdline(config_url="http://h/ud"), get=bodies.__getitem__)
    assert (got.data, got.source) == (b"#cloud-config\n", "url:http://h/ud")
    got = read_user_data(cfg, KernelCmdline(config_url="http://h/404"), get=bodies.__getitem__)
    assert got.data == b""  # coreos-cloudinit: 404 is empty user-data
    assert read_user_data(cfg, KernelCmdline()).source == "none"


def test_unreachable_url_refuses_after_the_fetch_timeout(tmp_path):
    cfg = _node(tmp_path, None, fetch_timeout=5.0)
    clock = _Clock()
    calls: list[float] = []

    def down(url: str) -> bytes | None:
        calls.append(clock.now)
        raise DatasourceError("connection refused")

    with pytest.raises(RefusedError, match="cannot fetch user-data from http://h/ud"):
        read_user_data(
            cfg,
            KernelCmdline(config_url="http://h/ud"),
            get=down,
            sleep=clock.sleep,
            monotonic=clock.monotonic,
        )
    assert len(calls) > 3
    assert clock.now <= 5.0
    with pytest.raises(RefusedError, match="cannot read"):
        read_user_data(replace(cfg, config_file=tmp_path / "nope"), KernelCmdline())


# ---- acting on the command line at boot ------------------------------------------------


def test_autologin_lands_in_the_node_root_and_is_recorded(tmp_path):
    cfg = _node(
        tmp_path, cmdline='coreos.autologin=tty1 coreos.autologin=ttyS0 sshkey="ssh-rsa AAAA k"'
    )
    with _locked(cfg):
        prepared = prepare(cfg)
    run = cfg.root / "run/systemd/system"
    assert (run / f"getty@tty1.service.d/{AUTOLOGIN_DROP_IN}").read_text() == GETTY
    assert (run / f"serial-getty@ttyS0.service.d/{AUTOLOGIN_DROP_IN}").read_text() == SERIAL_GETTY
    assert prepared.autologin == ("getty@tty1.service", "serial-getty@ttyS0.service")
    keys = cfg.root / "home/core/.ssh/authorized_keys.d/proc-cmdline"
    assert keys.read_text().strip() == "ssh-rsa AAAA k"
    assert prepared.config_source == f"file:{cfg.config_file}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    body = b"#cloud-config\nhostname: from-url\n"

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ud" else 404)
            self.end_headers()
            if self.path == "/ud":
                self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_no_config_boots_from_the_command_line_url(tmp_path, served):
    cfg = _node(tmp_path, None, cmdline=f"quiet coreos.config.url={served}/ud coreos.oem.id=qemu")
    with _locked(cfg):
        prepared = prepare(cfg)
    assert prepared.hostname == "from-url"
    assert (cfg.root / "etc/hostname").read_text().strip() == "from-url"
    assert prepared.config_source == f"url:{served}/ud"
    assert prepared.cmdline.oem_id == "qemu"
    assert prepared.autologin == ()


def test_a_404_url_boots_a_machine_with_nothing_configured(tmp_path, served):
    cfg = _node(tmp_path, None, cmdline=f"cloud-config-url={served}/missing")
    with _locked(cfg):
        prepared = prepare(cfg)  # 404: empty user-data (coreos-cloudinit's rule)
    assert prepared.config_source == f"url:{served}/missing"
    assert prepared.ops == ()
    assert (cfg.root / "lib/systemd/system/etcd2.service").exists()


# ---- the units' default environment ---------------------------------------------------


def test_default_environment_names_the_nodes_docker_and_addresses():
    facts = ServiceFacts(
        root="/s/node1/root",
        python="/py",
        machine_id="m",
        private_ipv4="10.0.0.1",
        units_socket="/s/u.sock",
        dockerd="/usr/sbin/dockerd",
        public_ipv4="192.0.2.1",
    )
    assert default_environment(facts) == {
        "DOCKER_HOST": "unix:///s/node1/root/run/docker.sock",
        "COREOS_PRIVATE_IPV4": "10.0.0.1",
        "COREOS_PUBLIC_IPV4": "192.0.2.1",
    }
    no_engine = ServiceFacts(
        root="/", python="/py", machine_id="m", private_ipv4="10.0.0.1", units_socket="/u"
    )
    # No engine: units keep docker's own default; public falls back to private.
    assert default_environment(no_engine) == {
        "COREOS_PRIVATE_IPV4": "10.0.0.1",
        "COREOS_PUBLIC_IPV4": "10.0.0.1",
    }


async def test_running_node_gives_units_its_environment_and_records_its_boot(tmp_path):
    cfg = _node(
        tmp_path,
        "#cloud-config\ncoreos:\n  units:\n    - name: env.service\n      command: start\n"
        "      content: |\n        [Service]\n        Type=oneshot\n        RemainAfterExit=yes\n"
        "        ExecStart=/bin/sh -c 'echo ip=$COREOS_PRIVATE_IPV4 pub=$COREOS_PUBLIC_IPV4 m=%m'\n",
        public_ipv4="192.0.2.7",
        cmdline="coreos.autologin coreos.oem.id=pycoreos",
        unit_manager=UnitManagerKind.AUTO,
    )
    fd = lock_root(cfg)
    try:
        prepared = prepare(cfg)
        stop = asyncio.Event()
        ready = asyncio.Event()
        task = asyncio.ensure_future(run_node(cfg, prepared, stop, ready=ready))
        await asyncio.wait_for(ready.wait(), 30)
        st = read_status(cfg.root)
        assert st is not None
        assert st.phase == "running"
        assert st.unit_manager == "builtin"  # a node root never uses host systemd
        assert st.oem_id == "pycoreos"
        assert st.autologin == ["getty@.service", "serial-getty@.service"]
        assert st.config_source == f"file:{cfg.config_file}"
        assert st.environment["COREOS_PUBLIC_IPV4"] == "192.0.2.7"
        assert st.failed == []
        entries = await UnitClient(Path(st.units_socket)).journal("env.service")
        # %m is the node's machine ID (fleet's machine), not the host's or a placeholder.
        want = f"ip=10.1.2.3 pub=192.0.2.7 m={prepared.machine_id}"
        assert want in [e.message for e in entries]
        stop.set()
        final = await asyncio.wait_for(task, 60)
        assert final.phase == "stopped"
    finally:
        os.close(fd)


# ---- the systemd path (a fake systemd: what the node asks of it) -----------------------


def test_a_root_with_its_own_systemd_bus_uses_that_systemd():
    got = choose_manager(
        UnitManagerKind.AUTO, root=Path("/proc/1/root"), systemd_booted=False, root_bus=True
    )
    assert got is UnitManagerKind.SYSTEMD
    builtin = choose_manager(
        UnitManagerKind.BUILTIN, root=Path("/x"), systemd_booted=True, root_bus=True
    )
    assert builtin is UnitManagerKind.BUILTIN


class FakeSystemd:
    """Host systemd as the node sees it: host units already running, jobs recorded."""

    def __init__(self) -> None:
        self.active = {"default.target", "sshd.service", "getty@tty1.service", "dbus.service"}
        self.calls: list[str] = []
        self.closed = False

    async def start(self, name: str) -> JobResult:
        self.calls.append(f"start {name}")
        self.active.add(name)
        return JobResult.DONE

    async def stop(self, name: str) -> JobResult:
        self.calls.append(f"stop {name}")
        self.active.discard(name)
        return JobResult.DONE

    async def list_units(self, *, all: bool = False) -> list[UnitStatus]:
        return [
            UnitStatus(name=n, load_state="loaded", active_state="active", sub_state="running")
            for n in sorted(self.active)
        ]

    async def close(self) -> None:
        self.closed = True


async def test_on_systemd_the_node_stops_only_its_own_units_and_keeps_run(tmp_path, monkeypatch):
    import pycoreos.node.boot as boot
    import pycoreos.node.runner as runner
    from pycoreos.node.manager import OpenManager

    cfg = _node(
        tmp_path,
        "#cloud-config\ncoreos:\n  units:\n    - name: etcd2.service\n      command: start\n"
        "    - name: app.service\n      command: start\n      content: |\n"
        "        [Service]\n        ExecStart=/bin/sleep 1000\n",
        unit_manager=UnitManagerKind.SYSTEMD,
        systemd_bus="unix:path=/nonexistent",
    )
    live = cfg.root / "run/dbus/system_bus_socket"
    live.parent.mkdir(parents=True)
    live.write_text("")
    fake = FakeSystemd()
    envs: list[dict[str, str]] = []

    async def fake_open(c, kind, environment, specifiers=None):
        assert kind is UnitManagerKind.SYSTEMD
        envs.append(dict(environment))
        return OpenManager(manager=fake, kind=kind, tracker="systemd")

    monkeypatch.setattr(runner, "open_manager", fake_open)
    with _locked(cfg):
        prepared = boot.prepare(cfg)
        assert live.exists()  # a root run by systemd keeps its live /run
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.ensure_future(run_node(cfg, prepared, stop, ready=ready))
        await asyncio.wait_for(ready.wait(), 30)
        st = read_status(cfg.root)
        assert st is not None
        assert (st.unit_manager, st.tracker) == ("systemd", "systemd")
        assert envs == [{"COREOS_PRIVATE_IPV4": "10.1.2.3", "COREOS_PUBLIC_IPV4": "10.1.2.3"}]
        stop.set()
        await asyncio.wait_for(task, 30)
    assert fake.calls[:3] == ["start default.target", "start etcd2.service", "start app.service"]
    stops = [c for c in fake.calls if c.startswith("stop ")]
    # app first, etcd last; the host's sshd, gettys, dbus and targets are never touched.
    assert stops == ["stop app.service", "stop etcd2.service"]
    assert {"sshd.service", "getty@tty1.service", "dbus.service"} <= fake.active
    assert fake.closed
