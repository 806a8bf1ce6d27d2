"""``pycoreos etcdctl``: etcd's v2 ``etcdctl`` (``ETCDCTL_API=2``) rebuilt on our v2 client.

Same commands, flags, output text, streams and exit codes as etcd 3.4's
``etcdctl/ctlv2``, whose CLI framework is urfave/cli v1: global flags come before the command,
command flags may be mixed with arguments (see :func:`reorder_args`), usage errors print
``Incorrect Usage`` and the help to stdout and the Go error to stderr, exit 1; an unknown
command prints ``No help topic for '<name>'`` and exits 3.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from pycoreos import __version__
from pycoreos.cli.etcdctl_commands import (
    COMMANDS,
    GLOBAL_FLAGS,
    HELP_COMMAND,
    HELP_FLAG,
    Command,
)
from pycoreos.cli.etcdctl_context import Context
from pycoreos.cli.etcdctl_flags import UsageError, parse_flags, render_columns, reorder_args
from pycoreos.cli.etcdctl_output import Exit

__all__ = ["COMMANDS", "GLOBAL_FLAGS", "app_help", "command_help", "main", "run"]


def app_help() -> str:
    """The top-level help (urfave AppHelpTemplate as etcdctl renders it)."""
    cmds = render_columns([(c.name, c.usage) for c in (*COMMANDS, HELP_COMMAND)])
    flags = render_columns([f.help_line() for f in GLOBAL_FLAGS])
    return (
        "NAME:\n   etcdctl - A simple command line client for etcd.\n\n"
        "USAGE:\n   etcdctl [global options] command [command options] [arguments...]\n\n"
        f"VERSION:\n   {__version__}\n\n"
        "COMMANDS:\n" + "\n".join(cmds) + "\n\n"
        "GLOBAL OPTIONS:\n" + "\n".join(flags) + "\n"
    )


def command_help(cmd: Command, parent: str = "") -> str:
    """Help of one command (urfave CommandHelpTemplate)."""
    full = f"etcdctl {parent}{cmd.name}"
    text = f"NAME:\n   {full} - {cmd.usage}\n\nUSAGE:\n   {full}"
    text += " [command options]" if cmd.flags else ""
    text += f" {cmd.args_usage or '[arguments...]'}"
    if cmd.description:
        text += f"\n\nDESCRIPTION:\n   {cmd.description}"
    if cmd.flags:
        text += (
            "\n\nOPTIONS:\n"
            + "".join(f"{ln}\n" for ln in render_columns([f.help_line() for f in cmd.flags]))
            + "   "
        )
    return text + "\n"


def subcommands_help(cmd: Command) -> str:
    """Help of a command with subcommands (urfave SubcommandHelpTemplate)."""
    rows = render_columns([(c.name, c.usage) for c in cmd.subcommands])
    opts = render_columns([HELP_FLAG.help_line()])
    return (
        f"NAME:\n   etcdctl {cmd.name} - {cmd.usage}\n\n"
        f"USAGE:\n   etcdctl {cmd.name} command [command options] [arguments...]\n\n"
        "COMMANDS:\n" + "\n".join(rows) + "\n\n"
        "OPTIONS:\n" + "\n".join(opts) + "\n   \n"
    )


def subapp_help(cmd: Command) -> str:
    """``etcdctl <group> help``: urfave renders the sub-app with the app template."""
    rows = render_columns([(c.name, c.usage) for c in cmd.subcommands])
    opts = render_columns([HELP_FLAG.help_line()])
    return (
        f"NAME:\n   etcdctl {cmd.name} - {cmd.usage}\n\n"
        f"USAGE:\n   etcdctl {cmd.name} [global options] command [command options] "
        f"[arguments...]\n\nVERSION:\n   {__version__}\n\n"
        "COMMANDS:\n" + "\n".join(rows) + "\n\n"
        "GLOBAL OPTIONS:\n" + "\n".join(opts) + "\n"
    )


def _find(cmds: Sequence[Command], name: str) -> Command | None:
    return next((c for c in cmds if c.name == name), None)


def _no_topic(name: str, err: TextIO) -> int:
    print(f"No help topic for '{name}'", file=err)
    return 3


def _run_command(cmd: Command, args: list[str], ctx: Context, parent: str = "") -> int:
    out = ctx.stdout
    if cmd.subcommands:
        if (args and args[0] in ("-h", "--help", "help", "h")) or not args:
            if len(args) > 1 and args[0] in ("help", "h"):
                sub = _find(cmd.subcommands, args[1])
                if sub is None:
                    return _no_topic(args[1], ctx.stderr)
                out.write(command_help(sub, f"{cmd.name} "))
                return 0
            if args and args[0] in ("help", "h"):
                out.write(subapp_help(cmd))
            else:
                out.write(subcommands_help(cmd))
            return 0
        sub = _find(cmd.subcommands, args[0])
        if sub is None:
            return _no_topic(args[0], ctx.stderr)
        return _run_command(sub, args[1:], ctx, f"{cmd.name} ")
    try:
        specs = (*cmd.flags, HELP_FLAG)
        values, rest = parse_flags(specs, reorder_args(specs, args))
    except UsageError as e:
        print(f"Incorrect Usage: {e}\n", file=out)
        out.write(command_help(cmd, parent))
        print(e, file=ctx.stderr)
        return 1
    if values.pop("help"):
        out.write(command_help(cmd, parent))
        return 0
    ctx.flags, ctx.args = values, rest
    assert cmd.action is not None
    try:
        return cmd.action(ctx)
    except Exit as e:
        return e.code


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run etcdctl with ``argv`` (without the program name); returns the exit code."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        values, rest = parse_flags(GLOBAL_FLAGS, argv)
    except UsageError as e:
        print(f"Incorrect Usage. {e}\n", file=out)
        out.write(app_help())
        print(e, file=err)
        return 1
    if values["help"]:
        out.write(app_help())
        return 0
    if values["version"]:
        print(f"etcdctl version: {__version__}\nAPI version: 2", file=out)
        return 0
    if not rest:
        out.write(app_help())
        return 0
    ctx = Context(
        globals=values,
        env=os.environ if env is None else env,
        stdin=stdin if stdin is not None else sys.stdin,
        stdout=out,
        stderr=err,
    )
    name = rest[0]
    if name in ("help", "h"):
        if len(rest) < 2:
            out.write(app_help())
            return 0
        cmd = _find(COMMANDS, rest[1])
        if cmd is None:
            return _no_topic(rest[1], err)
        out.write(command_help(cmd))
        return 0
    cmd = _find(COMMANDS, name)
    if cmd is None:
        return _no_topic(name, err)
    try:
        return _run_command(cmd, rest[1:], ctx)
    finally:
        ctx.close()
        out.flush()


def main(argv: list[str]) -> int:
    """Entry point for ``pycoreos etcdctl``."""
    try:
        return run(argv)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 1
