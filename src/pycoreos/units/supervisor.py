"""The built-in supervisor: an asyncio driver around :class:`ServiceMachine`.

One ``Supervisor`` manages the units of one node. It owns the I/O the machines must not do:
forking (:mod:`.process`), watching processes (a pidfd per tracked process), timers, the
per-unit cgroups (:mod:`.cgroups`), the notify sockets and the journal (:mod:`.journal`).

Event flow: every input (process exit, timer, READY=1, a job) becomes an event queued for
its unit; ``_pump`` steps the machine and executes the returned commands in order, which
may queue further events (an exec failure becomes an exit with status 203). Only after the
queue is empty are job waiters checked, so jobs see settled states, never intermediate ones.

Reaping: a pidfd per process we track; ``waitpid(pid)`` collects its status. With
``reap_all`` (the daemon) the supervisor is also a child subreaper and reaps every orphan
on SIGCHLD, so daemons that double-fork never become zombies. In-process use (tests)
leaves ``reap_all`` off so other children of the process are not stolen.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pycoreos._clock import Clock, RealClock
from pycoreos.units import loader
from pycoreos.units.cgroups import Tracker, UnitProcesses, open_tracker
from pycoreos.units.config import Dependencies, ServiceType
from pycoreos.units.deps import Job, JobKind, plan
from pycoreos.units.errors import JobError, NoSuchUnitError
from pycoreos.units.journal import Journal
from pycoreos.units.loader import LoadedUnit, LoadState, UnitPaths
from pycoreos.units.machine import (
    ActiveState,
    ArmTimer,
    Command,
    DisarmTimer,
    Event,
    ExitKind,
    FindMainPid,
    GroupEmpty,
    Kill,
    KillTarget,
    Log,
    MainPidFound,
    NotifyReady,
    ProcessExited,
    ReloadRequested,
    Result,
    Role,
    ServiceMachine,
    Spawn,
    SpawnFailed,
    StartRequested,
    StopRequested,
    SubState,
    TimerFired,
    WatchGroup,
)
from pycoreos.units.manager import JobResult, JournalEntry, UnitStatus
from pycoreos.units.names import SpecifierContext, parse_name
from pycoreos.units.process import (
    SpawnError,
    new_invocation_id,
    prepare,
    spawn,
    unit_environment,
)

__all__ = ["MANAGER_IDENT", "Supervisor", "SupervisorConfig"]

MANAGER_IDENT = "pycoreos"
_PR_SET_CHILD_SUBREAPER = 36
_SETTLED = {ActiveState.ACTIVE, ActiveState.INACTIVE, ActiveState.FAILED}


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorConfig:
    """How to run a supervisor.

    Attributes:
        paths: unit directories.
        state_dir: journals live in ``state_dir/journal``.
        cgroup_root: name of this supervisor's cgroup directory (unique per supervisor).
        tracker: ``auto``, ``cgroup2``, ``cgroup1`` or ``pgroup``.
        reap_all: become a child subreaper and reap every orphan (daemon mode only).
        specifiers: host facts for ``%H %m %b``.
        group_poll_interval: seconds between checks while waiting for a unit's processes
            to exit.
        default_environment: variables every unit's processes get (systemd's
            ``DefaultEnvironment=``); a unit's ``Environment=``/``EnvironmentFile=``
            override them.
    """

    paths: UnitPaths
    state_dir: Path
    cgroup_root: str = field(default_factory=lambda: f"pycoreos-units-{os.getpid()}")
    tracker: str = "auto"
    reap_all: bool = False
    specifiers: SpecifierContext = field(default_factory=SpecifierContext)
    group_poll_interval: float = 0.02
    default_environment: Mapping[str, str] = field(default_factory=dict)


class _Unit:
    """Runtime state of one unit (the machine holds the decisions)."""

    def __init__(self, loaded: LoadedUnit) -> None:
        self.loaded = loaded
        self.machine: ServiceMachine | None = None
        self.target_active = False
        self.procs: UnitProcesses | None = None
        self.main_pid = 0
        self.control_pid = 0
        self.popens: dict[int, subprocess.Popen[bytes]] = {}
        self.pidfds: dict[int, int] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.group_watch: asyncio.Task[None] | None = None
        self.events: list[Event] = []
        self.pumping = False
        self.waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self.lock = asyncio.Lock()
        self.notify_sock: socket.socket | None = None
        self.notify_name = ""
        self.status_text = ""
        self.invocation_id = ""
        self.state_change_ts = 0.0
        self.active_enter_ts = 0.0
        self.last_active: ActiveState = ActiveState.INACTIVE
        if loaded.config is not None and loaded.config.service is not None:
            self.machine = ServiceMachine(loaded.config)

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def active(self) -> ActiveState:
        if self.machine is not None:
            return self.machine.active_state
        return ActiveState.ACTIVE if self.target_active else ActiveState.INACTIVE

    @property
    def sub(self) -> str:
        if self.machine is not None:
            return self.machine.state.value
        return "active" if self.target_active else "dead"


class Supervisor:
    """The built-in :class:`~pycoreos.units.manager.UnitManager`. Use ``async with``."""

    def __init__(self, config: SupervisorConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or RealClock()
        self.paths = config.paths
        self._journal = Journal(config.state_dir / "journal", clock=self.clock)
        self._units: dict[str, _Unit] = {}
        self._tracker: Tracker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._notify_seq = 0
        self._bg: set[asyncio.Task[object]] = set()

    # ---- lifecycle --------------------------------------------------------------------

    async def open(self) -> Supervisor:
        """Create directories and the cgroup root, load every unit file."""
        self._loop = asyncio.get_running_loop()
        self.paths.create()
        self._tracker = open_tracker(self.config.cgroup_root, self.config.tracker)
        try:
            if self.config.reap_all:
                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
                self._loop.add_signal_handler(signal.SIGCHLD, self._reap_orphans)
            await self.daemon_reload()
        except BaseException:
            self._tracker.close()  # do not leak the (empty) cgroup directory
            raise
        return self

    async def __aenter__(self) -> Supervisor:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def tracker_kind(self) -> str:
        """``cgroup2``, ``cgroup1`` or ``pgroup``."""
        return self._tracker.kind if self._tracker else "none"

    async def close(self) -> None:
        """Stop every unit that is not inactive, then release cgroups, sockets and files."""
        if self._closed:
            return
        busy = [u.name for u in self._units.values() if u.active is not ActiveState.INACTIVE]
        await asyncio.gather(*(self._unit_job(self._units[n], JobKind.STOP) for n in busy))
        self._closed = True
        for t in list(self._bg):
            t.cancel()
        for u in self._units.values():
            self._release(u)
        if self._tracker is not None:
            self._tracker.close()
        if self.config.reap_all and self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGCHLD)
        self._journal.close()

    def _release(self, u: _Unit) -> None:
        assert self._loop is not None
        if u.timer is not None:
            u.timer.cancel()
        if u.group_watch is not None:
            u.group_watch.cancel()
        for pid, fd in list(u.pidfds.items()):
            self._loop.remove_reader(fd)
            os.close(fd)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        u.pidfds.clear()
        if u.notify_sock is not None:
            self._loop.remove_reader(u.notify_sock.fileno())
            u.notify_sock.close()
            u.notify_sock = None
        if u.procs is not None:
            u.procs.remove()

    def _spawn_bg(self, coro: Coroutine[object, object, object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    # ---- loading ----------------------------------------------------------------------

    def _load(self, name: str) -> _Unit:
        u = self._units.get(name)
        if u is None:
            u = self._units[name] = _Unit(
                loader.load_unit(name, self.paths, self.config.specifiers)
            )
        return u

    async def daemon_reload(self) -> None:
        """Re-read every unit file; running units keep running with their new config."""
        names = set(loader.list_unit_names(self.paths)) | set(self._units)
        for name in sorted(names):
            lu = loader.load_unit(name, self.paths, self.config.specifiers)
            u = self._units.get(name)
            if u is None:
                self._units[name] = _Unit(lu)
                continue
            u.loaded = lu
            if lu.config is not None and lu.config.service is not None:
                if u.machine is None:
                    u.machine = ServiceMachine(lu.config)
                else:
                    u.machine.replace_config(lu.config)
        for name in [n for n, u in self._units.items() if u.loaded.state is LoadState.NOT_FOUND]:
            if self._units[name].active is ActiveState.INACTIVE:
                del self._units[name]

    def _graph(self) -> dict[str, Dependencies]:
        graph: dict[str, Dependencies] = {}
        todo = list(self._units)
        while todo:
            name = todo.pop()
            if name in graph:
                continue
            try:
                u = self._load(name)
            except ValueError:
                continue
            if u.loaded.config is None:
                continue
            d = u.loaded.config.deps
            graph[name] = d
            todo.extend(
                n for n in (*d.requires, *d.wants, *d.binds_to, *d.conflicts) if n not in graph
            )
        return graph

    # ---- jobs -------------------------------------------------------------------------

    def _check_name(self, name: str) -> _Unit:
        try:
            parse_name(name)
        except ValueError as e:
            raise NoSuchUnitError(name) from e
        return self._load(name)

    async def start(self, name: str) -> JobResult:
        """Start ``name`` and what it pulls in; wait for the jobs."""
        return await self._transaction("start", name)

    async def stop(self, name: str) -> JobResult:
        """Stop ``name`` and the units that require it or are part of it."""
        return await self._transaction("stop", name)

    async def restart(self, name: str) -> JobResult:
        """Stop then start ``name`` (dependents that were active are restarted too)."""
        return await self._transaction("restart", name)

    async def reload(self, name: str) -> JobResult:
        """Run ExecReload= of an active service."""
        u = self._check_name(name)
        u.loaded.require_config()
        m = u.machine
        if m is None or not m.cfg.exec_reload:
            raise JobError(f"Job type reload is not applicable for unit {name}.")
        if m.active_state is not ActiveState.ACTIVE:
            raise JobError(f"Unit {name} cannot be reloaded because it is inactive.")
        async with u.lock:
            self._post(u, ReloadRequested())
            await self._wait(u, lambda: u.active in _SETTLED)
        return JobResult.DONE if m.reload_result is Result.SUCCESS else JobResult.FAILED

    async def _transaction(self, kind: str, name: str) -> JobResult:
        if self._closed:
            raise JobError("supervisor is closed")
        u = self._check_name(name)
        if kind != "stop":
            u.loaded.require_config()
        graph = self._graph()
        active = [n for n, x in self._units.items() if x.active is not ActiveState.INACTIVE]
        tx = plan(graph, kind, name, active=active)
        hard = _hard_closure(graph, name) if kind != "stop" else set()
        jobs: list[Job] = []
        for j in tx.jobs:
            ju = self._load(j.unit)
            if j.kind is JobKind.START and ju.loaded.state is not LoadState.LOADED:
                if j.unit in hard:
                    ju.loaded.require_config()  # raises the precise error
                continue  # a missing Wants= is skipped, as systemd does
            jobs.append(j)
        results: dict[Job, asyncio.Future[JobResult]] = {
            j: asyncio.get_running_loop().create_future() for j in jobs
        }

        async def run(j: Job) -> None:
            try:
                for w in tx.waits.get(j, ()):
                    if w in results:
                        await asyncio.shield(results[w])
                failed_dep = any(
                    (dj := Job(dep, JobKind.START)) in results
                    and results[dj].result() is not JobResult.DONE
                    for dep in tx.requires.get(j.unit, ())
                )
                res = (
                    JobResult.DEPENDENCY
                    if failed_dep
                    else await self._unit_job(self._units[j.unit], j.kind)
                )
                results[j].set_result(res)
            except BaseException as e:
                if not results[j].done():
                    results[j].set_exception(e)
                raise

        await asyncio.gather(*(run(j) for j in jobs))
        mine = Job(name, JobKind.START if kind != "stop" else JobKind.STOP)
        return results[mine].result() if mine in results else JobResult.DONE

    async def _unit_job(self, u: _Unit, kind: JobKind) -> JobResult:
        async with u.lock:
            if u.machine is None:  # a target (or a unit that failed to load)
                if kind is JobKind.START:
                    u.target_active = u.loaded.state is LoadState.LOADED
                else:
                    u.target_active = False
                self._after_change(u)
                return (
                    JobResult.DONE if u.target_active or kind is JobKind.STOP else JobResult.FAILED
                )
            m = u.machine
            if kind is JobKind.START:
                if m.active_state in (ActiveState.ACTIVE, ActiveState.RELOADING):
                    return JobResult.DONE
                self._post(u, StartRequested())
                await self._wait(u, lambda: u.active in _SETTLED)
                return JobResult.FAILED if u.active is ActiveState.FAILED else JobResult.DONE
            if m.active_state in (ActiveState.INACTIVE, ActiveState.FAILED):
                return JobResult.DONE
            self._post(u, StopRequested())
            await self._wait(u, lambda: u.active in (ActiveState.INACTIVE, ActiveState.FAILED))
            return JobResult.DONE

    async def _wait(self, u: _Unit, pred: Callable[[], bool]) -> None:
        if pred():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        u.waiters.append((pred, fut))
        await fut

    # ---- the pump ---------------------------------------------------------------------

    def _post(self, u: _Unit, ev: Event) -> None:
        u.events.append(ev)
        if u.pumping:
            return
        u.pumping = True
        try:
            while u.events:
                e = u.events.pop(0)
                assert u.machine is not None
                for cmd in u.machine.step(e, self.clock.monotonic()):
                    self._execute(u, cmd)
        finally:
            u.pumping = False
        self._after_change(u)

    def _after_change(self, u: _Unit) -> None:
        now = self.clock.wall()
        state = u.active
        if state is not u.last_active:
            u.state_change_ts = now
            if state is ActiveState.ACTIVE and u.last_active is not ActiveState.RELOADING:
                u.active_enter_ts = now
            was_up = u.last_active in (ActiveState.ACTIVE, ActiveState.RELOADING)
            u.last_active = state
            if was_up and state in (ActiveState.INACTIVE, ActiveState.FAILED):
                self._propagate_down(u)
        for pred, fut in list(u.waiters):
            if not fut.done() and pred():
                fut.set_result(None)
        u.waiters = [(p, f) for p, f in u.waiters if not f.done()]

    def _propagate_down(self, u: _Unit) -> None:
        """BindsTo=: a unit bound to ``u`` stops when ``u`` goes down for any reason."""
        for other in list(self._units.values()):
            cfg = other.loaded.config
            if (
                cfg is not None
                and u.name in cfg.deps.binds_to
                and other.active is not ActiveState.INACTIVE
            ):
                self._spawn_bg(self._transaction("stop", other.name))

    def _execute(self, u: _Unit, cmd: Command) -> None:
        match cmd:
            case Spawn():
                self._do_spawn(u, cmd)
            case Kill():
                self._do_kill(u, cmd)
            case ArmTimer():
                self._arm(u, cmd.deadline)
            case DisarmTimer():
                if u.timer is not None:
                    u.timer.cancel()
                    u.timer = None
            case FindMainPid():
                self._find_main_pid(u)
            case WatchGroup():
                self._watch_group(u)
            case Log():
                self._journal.append(u.name, 0, MANAGER_IDENT, cmd.message)
            case _:  # pragma: no cover
                raise TypeError(cmd)

    def _arm(self, u: _Unit, deadline: float) -> None:
        assert self._loop is not None
        if u.timer is not None:
            u.timer.cancel()
        delay = max(0.0, deadline - self.clock.monotonic())

        def fire() -> None:
            u.timer = None
            self._post(u, TimerFired())

        u.timer = self._loop.call_later(delay, fire)

    # ---- processes --------------------------------------------------------------------

    def _procs(self, u: _Unit) -> UnitProcesses:
        if u.procs is None:
            assert self._tracker is not None
            u.procs = self._tracker.unit(u.name)
        return u.procs

    def _do_spawn(self, u: _Unit, cmd: Spawn) -> None:
        assert u.machine is not None
        assert self._loop is not None
        cfg = u.machine.cfg
        if cmd.role is Role.MAIN and cmd.phase == "ExecStart" and not u.main_pid:
            u.invocation_id = u.invocation_id or new_invocation_id()
        extra: dict[str, str] = {}
        if cmd.notify:
            extra["NOTIFY_SOCKET"] = self._notify_socket(u)
        if cmd.role is Role.CONTROL and u.main_pid:
            extra["MAINPID"] = str(u.main_pid)
        try:
            env = unit_environment(
                cfg,
                invocation_id=u.invocation_id or new_invocation_id(),
                extra=extra,
                default=self.config.default_environment,
            )
            prepared = prepare(cmd.command, cfg, env)
            r, w = os.pipe()
            try:
                popen = spawn(prepared, output_fd=w, preexec=self._procs(u).preexec())
            except BaseException:
                os.close(r)
                raise
            finally:
                os.close(w)
        except SpawnError as e:
            self._journal.append(u.name, 0, MANAGER_IDENT, f"{u.name}: {e}")
            ev: Event = (
                SpawnFailed(cmd.role, Result.RESOURCES)
                if e.resources
                else ProcessExited(cmd.role, ExitKind.EXITED, e.exit_status)
            )
            if cfg.type is ServiceType.SIMPLE and cmd.role is Role.MAIN:
                self._loop.call_soon(self._post, u, ev)  # systemd forks first for simple
            else:
                u.events.append(ev)
            return
        pid = popen.pid
        self._procs(u).add(pid)
        u.popens[pid] = popen
        if cmd.role is Role.MAIN:
            u.main_pid = pid
        else:
            u.control_pid = pid
        self._watch_pid(u, pid)
        ident = os.path.basename(prepared.argv[0] if prepared.argv else prepared.executable)
        self._read_output(u, r, pid, ident)

    def _watch_pid(self, u: _Unit, pid: int) -> None:
        assert self._loop is not None
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._loop.call_soon(self._on_pid_exit, u, pid, None)
            return
        u.pidfds[pid] = fd
        self._loop.add_reader(fd, self._on_pid_exit, u, pid, None)

    def _on_pid_exit(self, u: _Unit, pid: int, status: int | None) -> None:
        assert self._loop is not None
        fd = u.pidfds.pop(pid, None)
        if fd is not None:
            self._loop.remove_reader(fd)
            os.close(fd)
        if status is None:
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
                if got == 0:  # spurious wakeup: still running
                    u.pidfds[pid] = fd if fd is not None else os.pidfd_open(pid)
                    self._loop.add_reader(u.pidfds[pid], self._on_pid_exit, u, pid, None)
                    return
            except ChildProcessError:
                status = 0  # not our child (a forking daemon): its status is unknown
        popen = u.popens.pop(pid, None)
        if popen is not None:
            popen.returncode = os.waitstatus_to_exitcode(status)
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            kind = ExitKind.DUMPED if os.WCOREDUMP(status) else ExitKind.KILLED
            ev = ProcessExited(Role.MAIN, kind, sig)
        else:
            ev = ProcessExited(Role.MAIN, ExitKind.EXITED, os.WEXITSTATUS(status))
        if pid == u.main_pid:
            u.main_pid = 0
            self._post(u, ev)
        elif pid == u.control_pid:
            u.control_pid = 0
            self._post(u, ProcessExited(Role.CONTROL, ev.kind, ev.status))

    def _reap_orphans(self) -> None:
        """SIGCHLD in subreaper mode: reap every exited child, dispatching tracked ones."""
        tracked = {pid: u for u in self._units.values() for pid in u.pidfds}
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid == 0:
                return
            pid = info.si_pid
            if pid in tracked:
                self._on_pid_exit(tracked.pop(pid), pid, None)
            else:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)

    def _read_output(self, u: _Unit, fd: int, pid: int, ident: str) -> None:
        assert self._loop is not None
        os.set_blocking(fd, False)
        buf = bytearray()
        loop = self._loop

        def emit(line: bytes) -> None:
            self._journal.append(u.name, pid, ident, line.decode("utf-8", "replace").rstrip("\r"))

        def readable() -> None:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(fd)
                os.close(fd)
                if buf:
                    emit(bytes(buf))
                return
            buf.extend(data)
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    if len(buf) >= 48 * 1024:  # journald's LineMax: split overlong lines
                        emit(bytes(buf))
                        buf.clear()
                    break
                emit(bytes(buf[:nl]))
                del buf[: nl + 1]

        loop.add_reader(fd, readable)

    def _do_kill(self, u: _Unit, cmd: Kill) -> None:
        procs = self._procs(u)
        if cmd.target is KillTarget.GROUP:
            skip = {u.main_pid, u.control_pid} if cmd.signal != signal.SIGKILL else set()
            if not skip - {0}:
                procs.kill(cmd.signal)
            else:
                for pid in procs.pids():
                    if pid not in skip:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, cmd.signal)
            return
        pid = u.main_pid if cmd.target is KillTarget.MAIN else u.control_pid
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, cmd.signal)
                if cmd.signal not in (signal.SIGKILL, signal.SIGCONT):
                    os.kill(pid, signal.SIGCONT)  # a stopped process must see the signal

    def _find_main_pid(self, u: _Unit) -> None:
        assert u.machine is not None
        procs = self._procs(u)
        pid = 0
        pid_file = u.machine.cfg.pid_file
        if pid_file:
            with contextlib.suppress(OSError, ValueError):
                pid = int(Path(pid_file).read_text().split()[0])
        else:
            pids = set(procs.pids())
            tops = [p for p in pids if _ppid(p) not in pids]
            if len(tops) == 1:
                pid = tops[0]
        if pid and _alive(pid):
            u.main_pid = pid
            self._watch_pid(u, pid)
        else:
            pid = 0
        u.events.append(MainPidFound(found=bool(pid), group_populated=procs.populated()))

    def _watch_group(self, u: _Unit) -> None:
        procs = self._procs(u)
        if not procs.populated():
            u.events.append(GroupEmpty())
            return
        if u.group_watch is not None and not u.group_watch.done():
            return
        running = u.machine is not None and u.machine.state is SubState.RUNNING
        interval = self.config.group_poll_interval * (10 if running else 1)

        async def poll() -> None:
            # Polling on purpose: cgroup.events needs inotify (not in the stdlib) and the
            # process-group backend has no notification at all.
            while procs.populated():  # noqa: ASYNC110
                await asyncio.sleep(interval)
            self._post(u, GroupEmpty())

        u.group_watch = asyncio.ensure_future(poll())

    # ---- notify socket ------------------------------------------------------------------

    def _notify_socket(self, u: _Unit) -> str:
        assert self._loop is not None
        if u.notify_sock is None:
            self._notify_seq += 1
            name = f"pycoreos-notify/{os.getpid()}/{self._notify_seq}"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            sock.bind("\0" + name)
            sock.setblocking(False)
            u.notify_sock, u.notify_name = sock, "@" + name
            self._loop.add_reader(sock.fileno(), self._on_notify, u)
        return u.notify_name

    def _on_notify(self, u: _Unit) -> None:
        assert u.notify_sock is not None
        while True:
            try:
                data = u.notify_sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            for line in data.decode("utf-8", "replace").splitlines():
                key, _, value = line.partition("=")
                if key == "READY" and value == "1":
                    self._post(u, NotifyReady())
                elif key == "STATUS":
                    u.status_text = value
                elif key == "MAINPID" and value.isdigit() and _alive(int(value)):
                    self._retarget_main(u, int(value))

    def _retarget_main(self, u: _Unit, pid: int) -> None:
        if pid == u.main_pid:
            return
        u.main_pid = pid
        if pid not in u.pidfds:
            self._watch_pid(u, pid)

    # ---- queries ----------------------------------------------------------------------

    async def status(self, name: str) -> UnitStatus:
        """The unit's load/active/sub states, main PID, result and processes."""
        u = self._check_name(name)
        lu = u.loaded
        m = u.machine
        cfg = lu.config
        code, status_ = "", None
        if m is not None and m.exit_status is not None:
            code, status_ = m.exit_status[0].value, m.exit_status[1]
        return UnitStatus(
            name=name,
            description=cfg.description if cfg and cfg.description else "",
            load_state=lu.state.value,
            active_state=u.active.value,
            sub_state=u.sub,
            result=m.result.value if m else "success",
            unit_file_state=loader.is_enabled(name, self.paths)
            if lu.state is not LoadState.NOT_FOUND
            else "",
            fragment_path=lu.fragment_path,
            dropin_paths=cfg.dropin_paths if cfg else (),
            load_error=str(lu.error) if lu.error else "",
            main_pid=u.main_pid,
            control_pid=u.control_pid,
            exec_main_status=status_,
            exec_main_code=code,
            n_restarts=m.n_restarts if m else 0,
            state_change_timestamp=u.state_change_ts,
            active_enter_timestamp=u.active_enter_ts,
            tasks=tuple(sorted(u.procs.pids())) if u.procs is not None else (),
        )

    async def list_units(self, *, all: bool = False) -> list[UnitStatus]:
        """Loaded units that are active, failed or have a job (all of them with ``all``)."""
        out = []
        for name in sorted(self._units):
            u = self._units[name]
            if all or u.active is not ActiveState.INACTIVE or u.loaded.state is LoadState.ERROR:
                out.append(await self.status(name))
        return out

    async def journal(self, name: str, lines: int | None = None) -> list[JournalEntry]:
        """The last ``lines`` journal entries of ``name``."""
        return self._journal.read(name, lines)

    async def follow(self, name: str, lines: int = 10) -> AsyncGenerator[JournalEntry, None]:
        """The last ``lines`` entries, then every new one until cancelled."""
        q = self._journal.subscribe(name)
        try:
            for e in self._journal.read(name, lines):
                yield e
            while True:
                yield await q.get()
        finally:
            self._journal.unsubscribe(name, q)

    # ---- unit files -------------------------------------------------------------------

    async def enable(self, name: str, *, runtime: bool = False) -> list[str]:
        """Create the [Install] links; reloads the dependency graph."""
        changes = loader.enable(name, self.paths, runtime=runtime)
        await self.daemon_reload()
        return changes

    async def disable(self, name: str) -> list[str]:
        """Remove the [Install] links."""
        changes = loader.disable(name, self.paths)
        await self.daemon_reload()
        return changes

    async def mask(self, name: str, *, runtime: bool = False) -> list[str]:
        """Link the unit to /dev/null so it cannot be started."""
        changes = loader.mask(name, self.paths, runtime=runtime)
        await self.daemon_reload()
        return changes

    async def unmask(self, name: str) -> list[str]:
        """Undo :meth:`mask`."""
        changes = loader.unmask(name, self.paths)
        await self.daemon_reload()
        return changes

    async def reset_failed(self, name: str) -> None:
        """Forget a failure and the start rate limit."""
        u = self._check_name(name)
        if u.machine is not None:
            u.machine.reset_failed()
            self._after_change(u)

    async def write_unit(self, name: str, text: str, *, runtime: bool = True) -> None:
        """Write a unit file (fleet's "load"); call :meth:`daemon_reload` to pick it up."""
        parse_name(name)
        d = self.paths.runtime if runtime else self.paths.persistent
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(d / name)

    async def remove_unit(self, name: str, *, runtime: bool = True) -> None:
        """Remove a unit file written by :meth:`write_unit`."""
        parse_name(name)
        d = self.paths.runtime if runtime else self.paths.persistent
        with contextlib.suppress(FileNotFoundError):
            (d / name).unlink()

    async def boot(self) -> JobResult:
        """Start ``default.target`` (and so everything enabled), as PID 1 does at boot."""
        return await self.start("default.target")


def _hard_closure(graph: dict[str, Dependencies], target: str) -> set[str]:
    seen: set[str] = set()
    todo = [target]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        d = graph.get(n)
        if d is not None:
            todo.extend((*d.requires, *d.binds_to))
    return seen


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rfind(")") + 2 :].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
