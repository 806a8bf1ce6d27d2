"""Boot preparation: refusing bad configs, applying the seed config into a node root with
the shipped units and queued unit jobs, idempotency, the root lock, the unit sink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pycoreos.node import (
    ContainerEngine,
    NodeConfig,
    NodeUnitSink,
    RefusedError,
    RunCommand,
    StartTransient,
    lock_root,
    machine_id,
    prepare,
)

SEED = (Path(__file__).parents[1] / "cloudinit" / "seed_config.yaml").read_text()
EXAMPLE = (Path(__file__).parents[2] / "examples" / "cloud-config.yaml").read_text()


def _cfg(tmp_path: Path, text: str, **kw: object) -> NodeConfig:
    f = tmp_path / "user-data"
    f.write_text(text)
    return NodeConfig(
        config_file=f,
        root=tmp_path / "root",
        private_ipv4="10.1.2.3",
        container_engine=ContainerEngine.NONE,
        python="/py",
        **kw,  # type: ignore[arg-type]
    )


def _tree(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = p.read_bytes()
    return out


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("#cloud-config\nhostname: [a\n", "line 2: error: did not find expected ',' or ']'"),
        (
            "#cloud-config\ncoreos:\n  update:\n    reboot-strategy: always\n",
            "line 4: error: invalid value always",
        ),
        (
            "#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 0999\n",
            "line 4: error: invalid value 0999",
        ),
    ],
)
def test_a_config_with_errors_refuses_to_boot_and_touches_nothing(tmp_path, text, expect):
    cfg = _cfg(tmp_path, text)
    with pytest.raises(RefusedError) as ei:
        prepare(cfg)
    assert expect in "\n".join(ei.value.report)
    assert "refusing to boot" in str(ei.value)
    assert not cfg.root.exists()


def test_ignition_and_unreadable_configs_are_refused(tmp_path):
    with pytest.raises(RefusedError, match="unsupported user-data"):
        prepare(_cfg(tmp_path, '{"ignition": {"version": "2.0.0"}}'))
    missing = NodeConfig(config_file=tmp_path / "nope", root=tmp_path / "r")
    with pytest.raises(RefusedError, match="cannot read"):
        prepare(missing)


def test_seed_config_boots_a_node_root(tmp_path):
    cfg = _cfg(tmp_path, SEED)
    p = prepare(cfg)
    root = cfg.root
    assert (root / "etc/hostname").read_text() == "coreos\n"
    assert p.hostname == "coreos"
    assert "toor:" in (root / "etc/passwd").read_text()
    keys = (root / "home/toor/.ssh/authorized_keys").read_text()
    assert "oxnz@rmbp" in keys
    # shipped units, under the root's vendor directory
    for unit in ("etcd.service", "etcd2.service", "fleet.service", "docker.service"):
        assert (root / "lib/systemd/system" / unit).is_file()
    # the seed starts etcd, fleet and docker (queued until the manager runs), in order
    starts = [op for op in p.ops if isinstance(op, RunCommand)]
    assert [(o.unit, o.command) for o in starts] == [
        ("etcd.service", "start"),
        ("fleet.service", "start"),
        ("docker.service", "start"),
    ]
    # the network unit is written, its networkd restart is noted, not run
    assert (root / "etc/systemd/network/static.network").is_file()
    assert any("systemd-networkd" in n for n in p.notes)
    assert p.machine_id == machine_id(root)


def test_substitutions_use_the_node_address_and_land_in_the_etcd_drop_in(tmp_path):
    text = (
        "#cloud-config\ncoreos:\n  etcd2:\n    name: n1\n"
        "    advertise-client-urls: http://$private_ipv4:2379\n"
        "  units:\n    - name: etcd2.service\n      command: start\n"
    )
    cfg = _cfg(tmp_path, text)
    prepare(cfg)
    drop_in = (cfg.root / "run/systemd/system/etcd2.service.d/20-cloudinit.conf").read_text()
    assert 'Environment="ETCD_ADVERTISE_CLIENT_URLS=http://10.1.2.3:2379"' in drop_in
    assert 'Environment="ETCD_NAME=n1"' in drop_in


def test_preparing_twice_leaves_the_root_identical(tmp_path):
    cfg = _cfg(tmp_path, EXAMPLE)
    first = prepare(cfg)
    before = _tree(cfg.root)
    second = prepare(cfg)
    assert _tree(cfg.root) == before
    assert first.ops == second.ops
    # the second apply changed nothing but re-issued the unit commands, as each boot does
    assert not [s for s in second.report.steps if s.changed and "start" not in s.detail]


def test_run_is_emptied_at_boot_like_a_tmpfs(tmp_path):
    cfg = _cfg(tmp_path, "#cloud-config\ncoreos:\n  etcd2:\n    name: n1\n")
    prepare(cfg)
    stale = cfg.root / "run/fleet/units/old.service"
    stale.parent.mkdir(parents=True)
    stale.write_text("x")
    prepare(cfg)
    assert not stale.exists()
    # runtime drop-ins were placed again
    assert (cfg.root / "run/systemd/system/etcd2.service.d/20-cloudinit.conf").is_file()


def test_one_node_process_per_root(tmp_path):
    cfg = _cfg(tmp_path, EXAMPLE)
    fd = lock_root(cfg)
    try:
        with pytest.raises(RefusedError, match="in use by another node"):
            lock_root(cfg)
    finally:
        os.close(fd)
    os.close(lock_root(cfg))  # released with the descriptor


def test_machine_id_is_created_once_and_kept(tmp_path):
    mid = machine_id(tmp_path)
    assert len(mid) == 32
    assert machine_id(tmp_path) == mid
    (tmp_path / "etc/machine-id").chmod(0o644)
    (tmp_path / "etc/machine-id").write_text("garbage\n")
    assert machine_id(tmp_path) != mid


def test_sink_queues_commands_in_order_and_enables_through_install_links(tmp_path):
    sink = NodeUnitSink(tmp_path)
    sink.place_unit("a.service", False, "[Service]\nExecStart=/bin/true\n"
                    "[Install]\nWantedBy=multi-user.target\n")  # fmt: skip
    assert sink.enable("a.service", False)
    link = tmp_path / "etc/systemd/system/multi-user.target.wants/a.service"
    assert link.is_symlink()
    assert not sink.enable("a.service", False)  # already enabled
    assert not sink.enable("missing.service", False)
    assert any("missing.service" in n for n in sink.notes)
    assert sink.run_command("a.service", "start") == "queued"
    assert sink.run_command("systemd-networkd.service", "restart") == "skipped"
    assert sink.start_transient("s.service", ["/x/script"], "script") == "queued"
    assert sink.run_command("a.service", "stop") == "queued"
    assert sink.ops == [
        RunCommand(unit="a.service", command="start"),
        StartTransient(unit="s.service", argv=("/x/script",), description="script"),
        RunCommand(unit="a.service", command="stop"),
    ]


def test_dockerd_engine_refused_when_not_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RefusedError, match="dockerd is not installed"):
        prepare(_cfg(tmp_path, EXAMPLE).__class__(
            config_file=tmp_path / "user-data",
            root=tmp_path / "root",
            container_engine=ContainerEngine.DOCKERD,
        ))  # fmt: skip
