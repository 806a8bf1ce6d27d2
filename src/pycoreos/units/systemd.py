"""``SystemdManager``: the ``UnitManager`` interface over a real systemd, through D-Bus.

Uses ``org.freedesktop.systemd1`` with ``dbus-fast``: ``StartUnit``/``StopUnit``/
``RestartUnit``/``ReloadUnit`` (mode ``replace``), waiting for the job's ``JobRemoved``
signal to learn its result; states through ``Properties.GetAll`` on the unit object
(``LoadUnit`` first, so unloaded units answer too); ``EnableUnitFiles``/``Disable…``/
``Mask…``/``Unmask…`` followed by ``Reload`` (as ``systemctl enable`` does); the journal
through ``journalctl -o json`` (run through ``command_prefix``, e.g. ``nsenter -t PID -a``
for a container). Unit files written by :meth:`write_unit` go below ``root``
(``/run/systemd/system`` by default, as fleet links its units there).

D-Bus errors are translated once, by name, into the same exceptions the built-in
supervisor raises (``NoSuchUnitError``, ``UnitMaskedError``, ``UnitLoadError``,
``JobError``). systemd's own log lines (``_PID=1``) become manager entries (pid 0), so
journal content compares equal with the supervisor's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path
from typing import Any

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from pycoreos.units.errors import (
    JobError,
    ManagerUnavailableError,
    NoSuchUnitError,
    UnitError,
    UnitFileError,
    UnitLoadError,
    UnitMaskedError,
)
from pycoreos.units.manager import JobResult, JournalEntry, UnitStatus
from pycoreos.units.names import parse_name

__all__ = ["SystemdManager"]

_DEST = "org.freedesktop.systemd1"
_PATH = "/org/freedesktop/systemd1"
_MANAGER = "org.freedesktop.systemd1.Manager"
_CLD = {1: "exited", 2: "killed", 3: "dumped"}
_JOB_RESULTS = {r.value: r for r in JobResult}


def _bus_error(name: str, message: str, unit: str) -> Exception:
    """D-Bus error name -> our exception (the one translation table)."""
    if (
        name in ("org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.systemd1.LoadFailed")
        and "not found" in message
    ):
        return NoSuchUnitError(unit)
    if name == "org.freedesktop.systemd1.UnitMasked":
        return UnitMaskedError(unit)
    if name in ("org.freedesktop.systemd1.LoadFailed", "org.freedesktop.systemd1.BadUnitSetting"):
        return UnitLoadError(unit, UnitFileError(message, file=unit))
    if name in (
        "org.freedesktop.systemd1.JobTypeNotApplicable",
        "org.freedesktop.systemd1.TransactionIsDestructive",
        "org.freedesktop.systemd1.TransactionOrderIsCyclic",
        "org.freedesktop.systemd1.NoSuchJob",
        "org.freedesktop.systemd1.OnlyByDependency",
    ):
        return JobError(message)
    return UnitError(f"units: {name}: {message}")


class SystemdManager:
    """A node's units through its systemd. Use ``async with`` or :meth:`open`/:meth:`close`.

    Args:
        bus_address: D-Bus address (``unix:path=/proc/PID/root/run/dbus/system_bus_socket``
            for a container); the system bus when None.
        root: the filesystem root of that systemd, for :meth:`write_unit`.
        command_prefix: prepended to ``journalctl`` (to run it inside a container).
    """

    def __init__(
        self,
        *,
        bus_address: str | None = None,
        root: Path = Path("/"),
        command_prefix: Sequence[str] = (),
    ) -> None:
        self.bus_address = bus_address
        self.root = root
        self.command_prefix = tuple(command_prefix)
        self._bus: MessageBus | None = None
        self._jobs: dict[str, str] = {}  # job path -> result, as JobRemoved arrives
        self._job_waiters: dict[str, asyncio.Future[str]] = {}

    async def open(self) -> SystemdManager:
        """Connect, subscribe to JobRemoved."""
        try:
            bus = MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM)
            self._bus = await bus.connect()
        except (OSError, EOFError) as e:
            raise ManagerUnavailableError(f"units: cannot connect to systemd: {e}") from None
        self._bus.add_message_handler(self._on_message)
        await self._call(
            "AddMatch",
            "s",
            ["type='signal',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'"],
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
        )
        await self._call("Subscribe")
        return self

    async def __aenter__(self) -> SystemdManager:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Disconnect."""
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    def _on_message(self, msg: Message) -> bool:
        if msg.message_type is MessageType.SIGNAL and msg.member == "JobRemoved":
            _, path, _unit, result = msg.body
            self._jobs[str(path)] = str(result)
            fut = self._job_waiters.pop(str(path), None)
            if fut is not None and not fut.done():
                fut.set_result(str(result))
        return False

    async def _call(
        self,
        member: str,
        signature: str = "",
        body: Sequence[Any] = (),
        *,
        unit: str = "",
        destination: str = _DEST,
        path: str = _PATH,
        interface: str = _MANAGER,
    ) -> list[Any]:
        if self._bus is None:
            raise ManagerUnavailableError("units: not connected to systemd")
        reply = await self._bus.call(
            Message(
                destination=destination,
                path=path,
                interface=interface,
                member=member,
                signature=signature,
                body=list(body),
            )
        )
        if reply is None:
            raise ManagerUnavailableError("units: no reply from systemd")
        if reply.message_type is MessageType.ERROR:
            text = str(reply.body[0]) if reply.body else ""
            raise _bus_error(str(reply.error_name), text, unit)
        return list(reply.body)

    # ---- jobs -----------------------------------------------------------------------

    async def _job(self, method: str, name: str) -> JobResult:
        parse_name(name)
        (job,) = await self._call(method, "ss", [name, "replace"], unit=name)
        job = str(job)
        result = self._jobs.pop(job, None)
        if result is None:
            fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._job_waiters[job] = fut
            result = self._jobs.pop(job, None) or await fut
            self._jobs.pop(job, None)
        return _JOB_RESULTS.get(result, JobResult.FAILED)

    async def start(self, name: str) -> JobResult:
        return await self._job("StartUnit", name)

    async def stop(self, name: str) -> JobResult:
        return await self._job("StopUnit", name)

    async def restart(self, name: str) -> JobResult:
        return await self._job("RestartUnit", name)

    async def reload(self, name: str) -> JobResult:
        return await self._job("ReloadUnit", name)

    # ---- queries --------------------------------------------------------------------

    async def _props(self, path: str, interface: str) -> dict[str, Any]:
        (d,) = await self._call(
            "GetAll", "s", [interface], path=path, interface="org.freedesktop.DBus.Properties"
        )
        return {k: v.value for k, v in d.items()}

    async def status(self, name: str) -> UnitStatus:
        parse_name(name)
        (path,) = await self._call("LoadUnit", "s", [name], unit=name)
        u = await self._props(str(path), "org.freedesktop.systemd1.Unit")
        s: dict[str, Any] = {}
        if name.endswith(".service") and u.get("LoadState") == "loaded":
            s = await self._props(str(path), "org.freedesktop.systemd1.Service")
        load_error = u.get("LoadError") or ("", "")
        code = int(s.get("ExecMainCode", 0))
        tasks: tuple[int, ...] = ()
        return UnitStatus(
            name=name,
            description=str(u.get("Description", "")) if u.get("Description") != name else "",
            load_state=str(u.get("LoadState", "")),
            active_state=str(u.get("ActiveState", "")),
            sub_state=str(u.get("SubState", "")),
            result=str(s.get("Result", "success")),
            unit_file_state=str(u.get("UnitFileState", "")),
            fragment_path=str(u.get("FragmentPath", "")),
            dropin_paths=tuple(str(p) for p in u.get("DropInPaths", ())),
            load_error=str(load_error[1]) if load_error[0] else "",
            main_pid=int(s.get("MainPID", 0)),
            control_pid=int(s.get("ControlPID", 0)),
            exec_main_status=int(s["ExecMainStatus"]) if code else None,
            exec_main_code=_CLD.get(code, ""),
            n_restarts=int(s.get("NRestarts", 0)),
            state_change_timestamp=int(u.get("StateChangeTimestamp", 0)) / 1e6,
            active_enter_timestamp=int(u.get("ActiveEnterTimestamp", 0)) / 1e6,
            tasks=tasks,
        )

    async def list_units(self, *, all: bool = False) -> list[UnitStatus]:
        (rows,) = await self._call("ListUnits")
        out = []
        for name, desc, load, active, sub, *_ in sorted(rows):
            if all or active != "inactive" or load == "error":
                out.append(
                    UnitStatus(
                        name=str(name),
                        description=str(desc),
                        load_state=str(load),
                        active_state=str(active),
                        sub_state=str(sub),
                    )
                )
        return out

    def _journal_cmd(self, name: str, lines: int | None, follow: bool) -> list[str]:
        cmd = [*self.command_prefix, "journalctl", "-u", name, "-o", "json", "--no-pager", "-q"]
        if lines is not None:
            cmd += ["-n", str(lines)]
        elif not follow:
            cmd += ["--no-tail"]
        if follow:
            cmd.append("-f")
        return cmd

    @staticmethod
    def _entry(name: str, raw: bytes) -> JournalEntry | None:
        try:
            d = json.loads(raw)
        except ValueError:
            return None
        msg = d.get("MESSAGE", "")
        if isinstance(msg, list):  # binary-safe form: a list of byte values
            msg = bytes(msg).decode("utf-8", "replace")
        pid = int(d.get("_PID", 0) or 0)
        ident = str(d.get("SYSLOG_IDENTIFIER", d.get("_COMM", "")))
        if pid == 1:  # systemd's own messages about the unit
            pid, ident = 0, "systemd"
        return JournalEntry(
            ts=int(d.get("__REALTIME_TIMESTAMP", 0)) / 1e6,
            unit=name,
            pid=pid,
            identifier=ident,
            message=str(msg),
        )

    async def journal(self, name: str, lines: int | None = None) -> list[JournalEntry]:
        proc = await asyncio.create_subprocess_exec(
            *self._journal_cmd(name, lines, False),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate()
        entries = [self._entry(name, line) for line in out.splitlines() if line.strip()]
        return [e for e in entries if e is not None]

    async def follow(self, name: str, lines: int = 10) -> AsyncGenerator[JournalEntry, None]:
        proc = await asyncio.create_subprocess_exec(
            *self._journal_cmd(name, lines, True),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                e = self._entry(name, line)
                if e is not None:
                    yield e
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    # ---- unit files -----------------------------------------------------------------

    @staticmethod
    def _changes(rows: Sequence[Sequence[Any]]) -> list[str]:
        out = []
        for kind, file, dest in rows:
            if kind == "symlink":
                out.append(f"Created symlink {file} \u2192 {dest}.")
            elif kind == "unlink":
                out.append(f"Removed {file}.")
        return out

    async def enable(self, name: str, *, runtime: bool = False) -> list[str]:
        _, changes = await self._call(
            "EnableUnitFiles", "asbb", [[name], runtime, False], unit=name
        )
        await self.daemon_reload()
        return self._changes(changes)

    async def disable(self, name: str) -> list[str]:
        (changes,) = await self._call("DisableUnitFiles", "asb", [[name], False], unit=name)
        await self.daemon_reload()
        return self._changes(changes)

    async def mask(self, name: str, *, runtime: bool = False) -> list[str]:
        (changes,) = await self._call("MaskUnitFiles", "asbb", [[name], runtime, False], unit=name)
        await self.daemon_reload()
        return self._changes(changes)

    async def unmask(self, name: str) -> list[str]:
        (changes,) = await self._call("UnmaskUnitFiles", "asb", [[name], False], unit=name)
        await self.daemon_reload()
        return self._changes(changes)

    async def daemon_reload(self) -> None:
        await self._call("Reload")

    async def set_environment(self, env: Mapping[str, str]) -> None:
        """Add ``env`` to the manager's environment (``systemctl set-environment``).

        Every unit started afterwards inherits it, below its own ``Environment=``.
        """
        if env:
            await self._call("SetEnvironment", "as", [[f"{k}={v}" for k, v in env.items()]])

    async def reset_failed(self, name: str) -> None:
        await self._call("ResetFailedUnit", "s", [name], unit=name)

    def _unit_dir(self, runtime: bool) -> Path:
        return self.root / ("run/systemd/system" if runtime else "etc/systemd/system")

    async def write_unit(self, name: str, text: str, *, runtime: bool = True) -> None:
        parse_name(name)
        d = self._unit_dir(runtime)
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(d / name)

    async def remove_unit(self, name: str, *, runtime: bool = True) -> None:
        parse_name(name)
        with contextlib.suppress(FileNotFoundError):
            (self._unit_dir(runtime) / name).unlink()
