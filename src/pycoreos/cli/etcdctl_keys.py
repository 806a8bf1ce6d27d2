"""etcdctl v2 key commands: get, set, mk, mkdir, setdir, update, updatedir, rm, rmdir, ls,
watch, exec-watch.

Each function is the body of one command (``etcdctl/ctlv2/command/*_command.go``) and keeps
its order of effects: the client (and cluster sync) first, then argument checks, then the
request; errors go through :func:`error_exit` with the same exit code as the original.
"""

from __future__ import annotations

import os
import subprocess

from pycoreos.cli.etcdctl_context import Context
from pycoreos.cli.etcdctl_output import (
    EXIT_BAD_ARGS,
    EXIT_SERVER_ERROR,
    Exit,
    error_exit,
    print_response_key,
)
from pycoreos.client.v2 import Client, ClientError, ClusterUnavailableError, Node, Response


def _key(ctx: Context) -> str:
    if not ctx.args:
        raise error_exit(EXIT_BAD_ARGS, "key required", ctx.stderr)
    return ctx.args[0]


def _value(ctx: Context) -> str:
    """``argOrStdin``: the second argument, else all of stdin (empty stdin is an error)."""
    if len(ctx.args) > 1:
        return ctx.args[1]
    try:
        data = ctx.stdin.read() if ctx.stdin is not None and not ctx.stdin.closed else ""
    except OSError:
        data = ""
    if not data:
        raise error_exit(EXIT_BAD_ARGS, "value required", ctx.stderr)
    return data


def _print(ctx: Context, resp: Response) -> int:
    print_response_key(resp, ctx.output, ctx.stdout, ctx.stderr)
    return 0


def cmd_get(ctx: Context) -> int:
    c = ctx.client()
    key = _key(ctx)
    try:
        resp = c.get(key, sorted=ctx.flag("sort"), quorum=ctx.flag("quorum"))
    except ClientError as e:
        raise error_exit(EXIT_SERVER_ERROR, e, ctx.stderr) from e
    if resp.node.dir:
        print(f"{resp.node.key}: is a directory", file=ctx.stderr)
        return 1
    return _print(ctx, resp)


def cmd_set(ctx: Context) -> int:
    c = ctx.client()
    key = _key(ctx)
    value = _value(ctx)
    try:
        resp = c.set(
            key,
            value,
            ttl=ctx.num("ttl"),
            prev_value=ctx.text("swap-with-value"),
            prev_index=ctx.num("swap-with-index"),
        )
    except ClientError as e:
        raise error_exit(EXIT_SERVER_ERROR, e, ctx.stderr) from e
    return _print(ctx, resp)


def _one_shot_error(e: ClientError) -> ClientError:
    # The Go client sends creates "one shot" and returns the first endpoint's error bare.
    if isinstance(e, ClusterUnavailableError) and e.errors:
        return e.errors[0]
    return e


def cmd_mk(ctx: Context) -> int:
    c = ctx.client()
    key = _key(ctx)
    value = _value(ctx)
    ttl = ctx.num("ttl")
    try:
        if ctx.flag("in-order"):
            resp = c.create_in_order(key, value, ttl=ttl)
        else:
            resp = c.create(key, value, ttl=ttl)
    except ClientError as e:
        err = e if ctx.flag("in-order") else _one_shot_error(e)
        raise error_exit(EXIT_SERVER_ERROR, err, ctx.stderr) from e
    return _print(ctx, resp)


def _dir_command(ctx: Context, prev_exist: bool | None) -> int:
    c = ctx.client()
    key = _key(ctx)
    try:
        resp = c.set(key, dir=True, ttl=ctx.num("ttl"), prev_exist=prev_exist)
    except ClientError as e:
        err = _one_shot_error(e) if prev_exist is False else e
        raise error_exit(EXIT_SERVER_ERROR, err, ctx.stderr) from e
    # etcd 3.4: directory commands print nothing in the simple format only.
    if ctx.output != "simple":
        return _print(ctx, resp)
    return 0


def cmd_mkdir(ctx: Context) -> int:
    return _dir_command(ctx, False)


def cmd_setdir(ctx: Context) -> int:
    return _dir_command(ctx, None)


def cmd_updatedir(ctx: Context) -> int:
    return _dir_command(ctx, True)


def cmd_update(ctx: Context) -> int:
    c = ctx.client()
    key = _key(ctx)
    value = _value(ctx)
    try:
        resp = c.update(key, value, ttl=ctx.num("ttl"))
    except ClientError as e:
        raise error_exit(EXIT_SERVER_ERROR, e, ctx.stderr) from e
    return _print(ctx, resp)


def _delete(ctx: Context, c: Client, **kw: object) -> int:
    key = _key(ctx)
    try:
        resp = c.delete(key, **kw)  # type: ignore[arg-type]
    except ClientError as e:
        raise error_exit(EXIT_SERVER_ERROR, _one_shot_error(e), ctx.stderr) from e
    if not resp.node.dir or ctx.output != "simple":
        return _print(ctx, resp)
    return 0


def cmd_rm(ctx: Context) -> int:
    c = ctx.client()
    return _delete(
        ctx,
        c,
        dir=ctx.flag("dir"),
        recursive=ctx.flag("recursive"),
        prev_value=ctx.text("with-value"),
        prev_index=ctx.num("with-index"),
    )


def cmd_rmdir(ctx: Context) -> int:
    c = ctx.client()
    return _delete(ctx, c, dir=True)


def _ls_print(ctx: Context, n: Node) -> None:
    slash = "/" if n.dir and ctx.flag("p") else ""
    print(f"{n.key}{slash}", file=ctx.stdout)
    for child in n.nodes:
        _ls_print(ctx, child)


def cmd_ls(ctx: Context) -> int:
    c = ctx.client()
    key = ctx.args[0] if ctx.args else "/"
    try:
        resp = c.get(
            key, sorted=ctx.flag("sort"), recursive=ctx.flag("recursive"), quorum=ctx.flag("quorum")
        )
    except ClientError as e:
        raise error_exit(EXIT_SERVER_ERROR, e, ctx.stderr) from e
    if not resp.node.dir:
        print(resp.node.key, file=ctx.stdout)
    for child in resp.node.nodes:
        _ls_print(ctx, child)
    return 0


def cmd_watch(ctx: Context) -> int:
    c = ctx.client()
    key = _key(ctx)
    recursive = ctx.flag("recursive")
    forever = ctx.flag("forever")
    after = ctx.num("after-index")
    # Go client: WaitIndex = AfterIndex+1 when set, else 0 ("from now on").
    events = c.watch_iter(key, recursive=recursive, wait_index=after + 1 if after else 0)
    try:
        while True:
            try:
                resp = next(events)
            except ClientError as e:
                raise error_exit(EXIT_SERVER_ERROR, e, ctx.stderr) from e
            if resp.node.dir:
                continue
            if recursive:
                print(f"[{resp.action}] {resp.node.key}", file=ctx.stdout)
            print_response_key(resp, ctx.output, ctx.stdout, ctx.stderr)
            ctx.stdout.flush()
            if not forever:
                return 0
    except KeyboardInterrupt:
        return 0


def _split_exec_args(args: list[str]) -> tuple[str, list[str]]:
    if any(a == "--" and i != 0 for i, a in enumerate(args)):
        return args[0], args[2:]
    # Without a parsed flag, reordering leaves the key last (see exec_watch_command.go).
    return args[-1], args[:-1]


def cmd_exec_watch(ctx: Context) -> int:
    c = ctx.client()
    if len(ctx.args) < 2:
        raise error_exit(EXIT_BAD_ARGS, "key and command to exec required", ctx.stderr)
    key, cmd = _split_exec_args(ctx.args)
    after = ctx.num("after-index")
    events = c.watch_iter(
        key, recursive=ctx.flag("recursive"), wait_index=after + 1 if after else 0
    )
    children: list[subprocess.Popen[bytes]] = []
    try:
        while True:
            try:
                resp = next(events)
            except ClientError as e:
                raise error_exit(EXIT_SERVER_ERROR, e, ctx.stderr) from e
            if resp.node.dir:
                print(f"Ignored dir {resp.node.key} change", file=ctx.stderr)
                continue
            env = dict(os.environ)
            env.update(
                ETCD_WATCH_ACTION=resp.action,
                ETCD_WATCH_MODIFIED_INDEX=str(resp.node.modified_index),
                ETCD_WATCH_KEY=resp.node.key,
                ETCD_WATCH_VALUE=resp.node.value or "",
            )
            ctx.stdout.flush()
            ctx.stderr.flush()
            try:
                # Like Go, start and do not wait: the next event may overlap this run.
                children.append(subprocess.Popen(cmd, env=env))
            except OSError as e:
                print(e, end="", file=ctx.stderr)
                raise Exit(1) from e
            children = [p for p in children if p.poll() is None]
    except KeyboardInterrupt:
        return 0
