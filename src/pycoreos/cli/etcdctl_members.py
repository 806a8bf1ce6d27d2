"""etcdctl v2 ``member list|add|remove|update`` and ``cluster-health``.

Texts, streams and exit codes follow ``member_commands.go`` and ``cluster_health.go`` of
etcd 3.4: member commands check their arguments before contacting the cluster and exit 1 on
any error; ``cluster-health`` asks each member's ``/health`` and exits 5 unless all are
healthy (``cluster is degraded`` / ``cluster is unavailable``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from pycoreos.cli.etcdctl_context import Context
from pycoreos.cli.etcdctl_output import (
    EXIT_CLUSTER_NOT_HEALTHY,
    EXIT_SERVER_ERROR,
    EXIT_SUCCESS,
    Exit,
    error_exit,
)
from pycoreos.client.http_transport import HttpRequest, HttpTransport
from pycoreos.client.v2 import ClientError, EndpointError, Member


def _fail(ctx: Context, text: str) -> Exit:
    print(text, file=ctx.stderr)
    return Exit(1)


def validate_urls(urls: Sequence[str]) -> list[str]:
    """Go ``types.NewURLs``: trimmed, http(s)/unix(s) with host:port and no path; sorted."""
    if not urls:
        raise ValueError("no valid URLs given")
    out = []
    for raw in urls:
        u = raw.strip()
        p = urlsplit(u)
        host_part = p.netloc.rpartition("@")[2]
        port_text = host_part.rpartition("]")[2].rpartition(":")
        if port_text[1] and port_text[2] and not port_text[2].isdigit():
            # Go url.Parse rejects the URL before NewURLs looks at it.
            raise ValueError(f'parse "{u}": invalid port ":{port_text[2]}" after host')
        if p.scheme not in ("http", "https", "unix", "unixs"):
            raise ValueError(f"URL scheme must be http, https, unix, or unixs: {u}")
        try:
            port = p.port
        except ValueError:
            port = None
        if port is None and not p.netloc.endswith(":"):
            raise ValueError(f'URL address does not have the form "host:port": {u}')
        if p.path:
            raise ValueError(f"URL must not contain a path: {u}")
        out.append(u)
    return sorted(out)


def cmd_member_list(ctx: Context) -> int:
    if ctx.args:
        raise _fail(ctx, "No arguments accepted")
    c = ctx.client()
    try:
        members = c.members()
    except ClientError as e:
        raise _fail(ctx, str(e)) from e
    try:
        leader = c.leader()
    except ClientError as e:
        raise _fail(ctx, f"Failed to get leader:  {e}") from e
    for m in members:
        peers = ",".join(m.peer_urls)
        if not m.name:
            print(f"{m.id}[unstarted]: peerURLs={peers}", file=ctx.stdout)
        else:
            is_leader = "true" if m.id == leader.id else "false"
            print(
                f"{m.id}: name={m.name} peerURLs={peers} "
                f"clientURLs={','.join(m.client_urls)} isLeader={is_leader}",
                file=ctx.stdout,
            )
    return 0


def _go_q(s: str) -> str:
    return json.dumps(s)  # %q of plain ASCII names/URLs is the same as a JSON string


def cmd_member_add(ctx: Context) -> int:
    if len(ctx.args) != 2:
        raise _fail(ctx, "Provide a name and a single member peerURL")
    c = ctx.client()
    name, url = ctx.args
    try:
        urls = validate_urls([url])
    except ValueError as e:
        raise _fail(ctx, str(e)) from e
    try:
        new = c.add_member(urls)
    except ClientError as e:
        raise _fail(ctx, str(e)) from e
    print(f"Added member named {name} with ID {new.id} to cluster", file=ctx.stdout)
    try:
        members = c.members()
    except ClientError as e:
        raise _fail(ctx, str(e)) from e
    conf = [f"{name if m.id == new.id else m.name}={u}" for m in members for u in m.peer_urls]
    print(file=ctx.stdout)
    print(f"ETCD_NAME={_go_q(name)}", file=ctx.stdout)
    print(f"ETCD_INITIAL_CLUSTER={_go_q(','.join(conf))}", file=ctx.stdout)
    print('ETCD_INITIAL_CLUSTER_STATE="existing"', file=ctx.stdout)
    return 0


def cmd_member_remove(ctx: Context) -> int:
    if len(ctx.args) != 1:
        raise _fail(ctx, "Provide a single member ID")
    removal = ctx.args[0]
    c = ctx.client()
    try:
        members: Sequence[Member] = c.members()
    except ClientError as e:
        raise _fail(ctx, f"Error while verifying ID against known members: {e}") from e
    found = False
    for m in members:
        if m.id == removal:
            found = True
        if m.name == removal:
            print(
                f"Found a member named {m.name}; if this is correct, please use its ID, eg:\n"
                f"\tetcdctl member remove {m.id}",
                file=ctx.stderr,
            )
            print(
                "For more details, read the documentation at https://github.com/coreos/etcd/"
                "blob/master/Documentation/runtime-configuration.md#remove-a-member\n",
                file=ctx.stderr,
            )
    if not found:
        raise _fail(ctx, f"Couldn't find a member in the cluster with an ID of {removal}.")
    try:
        c.remove_member(removal)
    except ClientError as e:
        print(f"Received an error trying to remove member {removal}: {e}", end="", file=ctx.stderr)
        raise Exit(1) from e
    print(f"Removed member {removal} from cluster", file=ctx.stdout)
    return 0


def cmd_member_update(ctx: Context) -> int:
    if len(ctx.args) != 2:
        raise _fail(
            ctx,
            "Provide an ID and a list of comma separated peerURL "
            "(0xabcd http://example.com,http://example1.com)",
        )
    c = ctx.client()
    mid, urls = ctx.args
    try:
        c.update_member(mid, validate_urls(urls.split(",")))
    except ValueError as e:
        raise _fail(ctx, str(e)) from e
    except ClientError as e:
        raise _fail(ctx, str(e)) from e
    print(f"Updated member with ID {mid} in cluster", file=ctx.stdout)
    return 0


def _health_of(transport: HttpTransport, url: str, timeout: float | None) -> bool | str:
    """True/False from ``url/health``, or the error text when it cannot be checked."""
    target = url.rstrip("/") + "/health"
    try:
        resp = transport.round_trip(
            target, HttpRequest(method="GET", path="/health"), timeout=timeout, headers={}
        )
    except EndpointError as e:
        return f'Get "{target}": {e}'  # Go http.Client wraps transport errors like this
    try:
        obj = json.loads(resp.body)
    except ValueError as e:
        return str(e)
    h = obj.get("health") if isinstance(obj, dict) else None
    return h == "true" or h is True


def cmd_cluster_health(ctx: Context) -> int:
    forever = ctx.flag("forever")
    c = ctx.client_no_sync()
    transport = ctx.new_transport()
    ctx.on_close(transport.close)
    try:
        members = c.members()
    except ClientError as e:
        print("cluster may be unhealthy: failed to list members", file=ctx.stdout)
        raise error_exit(EXIT_SERVER_ERROR, e, ctx.stderr) from e
    try:
        while True:
            healthy = 0
            for m in members:
                if not m.client_urls:
                    print(
                        f"member {m.id} is unreachable: no available published client urls",
                        file=ctx.stdout,
                    )
                    continue
                checked = False
                for url in m.client_urls:
                    res = _health_of(transport, url, c.timeout)
                    if isinstance(res, str):
                        print(
                            f"failed to check the health of member {m.id} on {url}: {res}",
                            file=ctx.stdout,
                        )
                        continue
                    checked = True
                    state = "healthy" if res else "unhealthy"
                    healthy += bool(res)
                    print(
                        f"member {m.id} is {state}: got {state} result from {url}",
                        file=ctx.stdout,
                    )
                    break
                if not checked:
                    urls = " ".join(m.client_urls)
                    print(
                        f"member {m.id} is unreachable: [{urls}] are all unreachable",
                        file=ctx.stdout,
                    )
            if healthy == len(members):
                print("cluster is healthy", file=ctx.stdout)
            elif healthy == 0:
                print("cluster is unavailable", file=ctx.stdout)
            else:
                print("cluster is degraded", file=ctx.stdout)
            if not forever:
                return EXIT_SUCCESS if healthy == len(members) else EXIT_CLUSTER_NOT_HEALTHY
            print("\nnext check after 10 second...\n", file=ctx.stdout)
            ctx.stdout.flush()
            time.sleep(10)
    except KeyboardInterrupt:
        return 0
