"""``pycoreos certs``: a CA plus server, peer and client certificates for a cluster, in one step.

Usage::

    pycoreos certs --dir ./pki --member m1=10.0.0.1 --member m2=10.0.0.2 --member m3=10.0.0.3

writes (PEM; keys mode 0600)::

    ca.crt ca.key                      the cluster CA (reused when already in --dir)
    <member>.crt <member>.key          client-API server certificate (--cert-file/--key-file)
    <member>-peer.crt <member>-peer.key  peer certificate (--peer-cert-file/--peer-key-file)
    <client>.crt <client>.key          client certificate for etcdctl/fleet (--client NAME)

Every member certificate carries the member's own hosts plus ``--hosts`` (default
``127.0.0.1,localhost``) as SANs. An existing CA in ``--dir`` is reused, so members can be
added later; an existing leaf file is never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pycoreos.tls.certs import Authority, CertKind, Issued, KeyType, issue, new_ca


@dataclass(frozen=True, slots=True)
class Plan:
    """What to issue: members (name, hosts) and client names."""

    members: tuple[tuple[str, tuple[str, ...]], ...]
    clients: tuple[str, ...]


def parse_members(specs: Sequence[str], common_hosts: Sequence[str]) -> Plan:
    """Turn ``NAME[=HOST,HOST...]`` specs into a plan (``common_hosts`` added to each).

    Raises:
        ValueError: an empty or repeated name.
    """
    members: list[tuple[str, tuple[str, ...]]] = []
    for spec in specs or ["server"]:
        name, _, hosts_text = spec.partition("=")
        name = name.strip()
        if not name or "/" in name:
            raise ValueError(f"invalid member {spec!r} (want NAME[=HOST,...])")
        if name in {n for n, _ in members}:
            raise ValueError(f"member {name!r} given twice")
        own = [h.strip() for h in hosts_text.split(",") if h.strip()]
        hosts = tuple(dict.fromkeys([*own, *common_hosts]))  # ordered, no repeats
        members.append((name, hosts))
    return Plan(tuple(members), ())


def _write(path: str, data: bytes, *, secret: bool, force: bool) -> None:
    if os.path.exists(path) and not force:
        raise FileExistsError(f"{path} exists (use --force to overwrite)")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _write_pair(directory: str, stem: str, issued: Issued, force: bool) -> list[str]:
    crt, key = os.path.join(directory, stem + ".crt"), os.path.join(directory, stem + ".key")
    _write(key, issued.key_pem, secret=True, force=force)
    _write(crt, issued.cert_pem, secret=False, force=force)
    return [crt, key]


def _load_or_create_ca(directory: str, now: dt.datetime, days: int, kt: KeyType) -> Authority:
    crt, key = os.path.join(directory, "ca.crt"), os.path.join(directory, "ca.key")
    if os.path.exists(crt) and os.path.exists(key):
        with open(crt, "rb") as c, open(key, "rb") as k:
            return Authority.load(c.read(), k.read())
    ca = new_ca(now=now, days=days, key_type=kt)
    _write(key, ca.key_pem, secret=True, force=True)
    _write(crt, ca.cert_pem, secret=False, force=True)
    return ca


def generate(
    directory: str,
    plan: Plan,
    *,
    now: dt.datetime,
    days: int = 365,
    ca_days: int = 3650,
    key_type: KeyType = KeyType.ECDSA,
    force: bool = False,
) -> list[str]:
    """Write the CA (unless present) and every certificate of ``plan`` into ``directory``.

    Returns:
        The paths written, CA first.

    Raises:
        FileExistsError: a leaf file exists and ``force`` is false (nothing after it written).
        ValueError: the CA files in ``directory`` do not match each other.
        OSError: the directory is not writable.
    """
    os.makedirs(directory, mode=0o755, exist_ok=True)
    ca = _load_or_create_ca(directory, now, ca_days, key_type)
    written = [os.path.join(directory, "ca.crt")]
    for name, hosts in plan.members:
        server = issue(ca, CertKind.SERVER, name, hosts, now=now, days=days, key_type=key_type)
        written += _write_pair(directory, name, server, force)
        peer = issue(ca, CertKind.PEER, name, hosts, now=now, days=days, key_type=key_type)
        written += _write_pair(directory, f"{name}-peer", peer, force)
    for client in plan.clients:
        cert = issue(ca, CertKind.CLIENT, client, now=now, days=days, key_type=key_type)
        written += _write_pair(directory, client, cert, force)
    return written


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pycoreos certs",
        description="Create a CA and server, peer and client certificates for a cluster.",
    )
    p.add_argument("--dir", default="certs", help="output directory (default ./certs)")
    p.add_argument(
        "--member",
        action="append",
        default=[],
        metavar="NAME[=HOST,...]",
        help="a member and its hosts (repeat; default one member named 'server')",
    )
    p.add_argument(
        "--hosts",
        default="127.0.0.1,localhost",
        help="SANs added to every member certificate (default 127.0.0.1,localhost)",
    )
    p.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="NAME",
        help="a client certificate to issue (repeat; default 'client', once per directory)",
    )
    p.add_argument("--days", type=int, default=365, help="leaf validity in days (365)")
    p.add_argument("--ca-days", type=int, default=3650, help="CA validity in days (3650)")
    p.add_argument("--key-type", choices=[k.value for k in KeyType], default="ecdsa")
    p.add_argument("--force", action="store_true", help="overwrite existing leaf files")
    return p


def main(argv: Sequence[str]) -> int:
    """Entry point of ``pycoreos certs``; prints the files written and the flags to use."""
    args = _parser().parse_args(list(argv))
    common = [h.strip() for h in args.hosts.split(",") if h.strip()]
    try:
        plan = parse_members(args.member, common)
        clients = tuple(dict.fromkeys(args.client))
        if not clients and not os.path.exists(os.path.join(args.dir, "client.crt")):
            # The default client is issued once; adding members later must not trip on it.
            clients = ("client",)
        plan = Plan(plan.members, clients)
        if args.days <= 0 or args.ca_days <= 0:
            raise ValueError("--days and --ca-days must be positive")
        written = generate(
            args.dir,
            plan,
            now=dt.datetime.now(dt.UTC),
            days=args.days,
            ca_days=args.ca_days,
            key_type=KeyType(args.key_type),
            force=args.force,
        )
    except (ValueError, OSError) as e:
        print(f"certs: {e}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    d = args.dir
    name = plan.members[0][0]
    client = clients[0] if clients else "client"
    print(
        f"\nmember {name}: --cert-file {d}/{name}.crt --key-file {d}/{name}.key "
        f"--client-cert-auth --trusted-ca-file {d}/ca.crt \\\n"
        f"  --peer-cert-file {d}/{name}-peer.crt --peer-key-file {d}/{name}-peer.key "
        f"--peer-client-cert-auth --peer-trusted-ca-file {d}/ca.crt\n"
        f"client: --ca-file {d}/ca.crt --cert-file {d}/{client}.crt --key-file {d}/{client}.key",
        file=sys.stderr,
    )
    return 0
