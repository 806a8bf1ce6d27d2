"""The fleet HTTP API v1 (``/fleet/v1``, alias ``/v1-alpha``) and ``/metrics``.

Routing and validation happen synchronously; registry work runs as a task whose result is
the response (the HTTP layer, :mod:`pycoreos.api.http`, keeps responses in request order).
Errors are translated once, here, by table: ValidationError -> 400, NotFoundError -> 404,
ConflictError/registry failures -> 409/500, each as fleet's error entity.

Extension (``/fleet/v1/_local/...``, ours): this machine's journal, status, restart of a
unit fleet loaded here (``fleetctl restart`` of a global unit, machine by machine) and
command execution for ``fleetctl journal|status|ssh`` without SSH. ``exec`` is off unless
``enable_remote_exec`` is set in fleet.conf, because the API has no authentication
(as fleet's).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from pycoreos.api.http import HandlerResult, Request, Response, StreamResponse
from pycoreos.fleet.api.schema import (
    PageToken,
    error_body,
    machine_json,
    options_from_json,
    paginate,
    parse_patch,
    state_json,
    unit_json,
)
from pycoreos.fleet.errors import ConflictError, NotFoundError, RegistryError, ValidationError
from pycoreos.fleet.job import JobState, parse_job_state, validate_unit
from pycoreos.fleet.registry import Registry
from pycoreos.fleet.unit import UnitNameInfo, validate_name
from pycoreos.units.manager import UnitManager

__all__ = ["FleetAPI"]

log = logging.getLogger("pycoreos.fleet.api")
_JSON = [("Content-Type", "application/json")]
_ERRORS: list[tuple[type[Exception], int]] = [
    (ValidationError, 400),
    (NotFoundError, 404),
    (ConflictError, 409),
    (RegistryError, 500),
]


def _err(code: int, message: str) -> Response:
    return Response(code, error_body(code, message), list(_JSON))


def _ok(obj: Any, code: int = 200) -> Response:
    return Response(code, json.dumps(obj).encode(), list(_JSON))


class FleetAPI:
    """The request handler. ``manager`` serves the ``_local`` endpoints of this machine."""

    def __init__(
        self,
        registry: Registry,
        *,
        token_limit: int = 100,
        manager: UnitManager | None = None,
        allow_exec: bool = False,
        metrics: Callable[[], str] | None = None,
        managed: Callable[[str], bool] | None = None,
    ) -> None:
        self.registry = registry
        self.token_limit = token_limit
        self.manager = manager
        self.allow_exec = allow_exec
        self.metrics = metrics or (lambda: "")
        self.managed = managed or (lambda name: False)
        self.requests = 0

    def __call__(self, req: Request) -> HandlerResult:
        self.requests += 1
        path = unquote(req.path)
        for base in ("/fleet/v1", "/v1-alpha"):
            if path == base or path.startswith(base + "/"):
                return self._route(req, path[len(base) :])
        if path == "/metrics" and req.method == "GET":
            return Response(200, self.metrics().encode(), [("Content-Type", "text/plain")])
        if path == "/":
            return _err(405, "method not allowed")
        return _err(404, "not found")

    def _async(self, coro: Awaitable[Response]) -> asyncio.Future[Response]:
        async def run() -> Response:
            try:
                return await coro
            except Exception as e:
                for typ, code in _ERRORS:
                    if isinstance(e, typ):
                        if code == 500:
                            log.warning("api: registry error: %s", e)
                        return _err(code, str(e) if code != 500 else "registry error")
                log.exception("api: unexpected error")
                return _err(500, "internal error")

        return asyncio.ensure_future(run())

    def _route(self, req: Request, rest: str) -> HandlerResult:
        q = {k: v[0] for k, v in parse_qs(req.query).items()}
        m = req.method
        if rest == "/discovery" or rest == "/discovery.json":
            return _ok(_DISCOVERY) if m == "GET" else _err(405, "only GET supported")
        if rest == "/units":
            if m != "GET":
                return _err(405, "only GET supported against this resource")
            return self._async(self._list_units(q))
        if rest.startswith("/units/") and rest.count("/") == 2:
            name = rest[len("/units/") :]
            if m == "GET":
                return self._async(self._get_unit(name))
            if m == "DELETE":
                return self._async(self._destroy(name))
            if m == "PUT":
                ctype = req.headers.get("content-type", "").split(";")[0].strip()
                if ctype != "application/json":
                    return _err(415, "only application/json is supported")
                return self._async(self._put(name, req.body))
            return _err(405, "only GET, PUT and DELETE supported against this resource")
        if rest == "/state":
            return (
                self._async(self._states(q))
                if m == "GET"
                else _err(405, "only GET supported against this resource")
            )
        if rest == "/machines":
            if m == "GET":
                return self._async(self._machines(q))
            if m == "PATCH":
                return self._async(self._patch(req.body))
            return _err(405, "only GET and PATCH supported against this resource")
        if rest.startswith("/_local/"):
            return self._local(req, rest[len("/_local/") :], q)
        return _err(404, "not found")

    def _token(self, q: dict[str, str]) -> PageToken:
        t = q.get("nextPageToken")
        return PageToken.decode(t) if t is not None else PageToken(1, self.token_limit)

    async def _list_units(self, q: dict[str, str]) -> Response:
        tok = self._token(q)
        snap = await self.registry.snapshot()
        items = [unit_json(u, snap.current_state(u.name)) for u in snap.units.values()]
        page, nxt = paginate(items, tok)
        body: dict[str, Any] = {"units": page}
        if nxt:
            body["nextPageToken"] = nxt
        return _ok(body)

    async def _get_unit(self, name: str) -> Response:
        u, current = await self.registry.unit(name)
        if u is None:
            return _err(404, "unit does not exist")
        return _ok(unit_json(u, current))

    async def _destroy(self, name: str) -> Response:
        u, _ = await self.registry.unit(name)
        if u is None:
            return _err(404, "unit does not exist")
        await self.registry.destroy_unit(name)
        return Response(204)

    async def _put(self, item: str, body: bytes) -> Response:
        try:
            su = json.loads(body)
            if not isinstance(su, dict):
                raise ValueError("expected a JSON object")
        except ValueError as e:
            return _err(400, f"unable to decode body: {e}")
        name = su.get("name") or item
        if name != item:
            return _err(
                400, f'name in URL "{item}" differs from unit name in request body "{name}"'
            )
        validate_name(name)
        ds_raw = su.get("desiredState") or ""
        if not isinstance(ds_raw, str):
            return _err(400, "unable to decode body: desiredState must be a string")
        ds = parse_job_state(ds_raw) if ds_raw else None
        info = UnitNameInfo.parse(name)
        if info is not None and info.is_template and ds not in (None, JobState.INACTIVE):
            return _err(400, f'cannot activate template "{name}"')
        opts = su.get("options") or []
        existing, _ = await self.registry.unit(name, quorum=True)
        if existing is None:
            if not opts:
                return _err(409, "unit does not exist and options field empty")
            uf = options_from_json(opts)
            validate_unit(name, uf)
            await self.registry.create_unit(name, uf, ds or JobState.INACTIVE)
            return Response(201)
        if opts:
            uf = options_from_json(opts)
            if uf.hash != existing.file.hash:
                validate_unit(name, uf)
                await self.registry.replace_unit(name, uf, ds or existing.target_state)
                return Response(204)
        if ds is None:
            return _err(409, "must provide DesiredState to update existing unit")
        await self.registry.set_target_state(name, ds)
        return Response(204)

    async def _states(self, q: dict[str, str]) -> Response:
        tok = self._token(q)
        snap = await self.registry.snapshot()
        items = [
            state_json(s)
            for s in snap.states
            if (not q.get("machineID") or s.machine_id == q["machineID"])
            and (not q.get("unitName") or s.name == q["unitName"])
        ]
        page, nxt = paginate(items, tok)
        body: dict[str, Any] = {"states": page}
        if nxt:
            body["nextPageToken"] = nxt
        return _ok(body)

    async def _machines(self, q: dict[str, str]) -> Response:
        tok = self._token(q)
        snap = await self.registry.snapshot()
        page, nxt = paginate([machine_json(m) for m in snap.machines.values()], tok)
        body: dict[str, Any] = {"machines": page}
        if nxt:
            body["nextPageToken"] = nxt
        return _ok(body)

    async def _patch(self, body: bytes) -> Response:
        ops = parse_patch(body)  # all validated before any is applied
        for op in ops:
            await self.registry.set_machine_metadata(op.machine_id, op.key, op.value)
        return Response(204)

    # -- this machine's units (fleetctl journal/status/ssh) ---------------------------

    def _local(self, req: Request, rest: str, q: dict[str, str]) -> HandlerResult:
        mgr = self.manager
        if mgr is None:
            return _err(404, "no local unit manager")
        kind, _, name = rest.partition("/")
        if kind == "journal" and req.method == "GET":
            lines = int(q.get("lines", "10") or 10)
            if q.get("follow") == "true":
                return self._follow(mgr, name, lines)
            return self._async(self._journal(mgr, name, lines))
        if kind == "status" and req.method == "GET":
            return self._async(self._status(mgr, name))
        if kind == "restart" and req.method == "POST":
            if not self.managed(name):
                return _err(404, f"unit {name} is not loaded by fleet on this machine")
            return self._async(self._restart(mgr, name))
        if kind == "exec" and req.method == "POST":
            if not self.allow_exec:
                return _err(
                    403, "remote execution is disabled on this machine (enable_remote_exec)"
                )
            return self._async(_exec(req.body))
        return _err(404, "not found")

    async def _journal(self, mgr: UnitManager, name: str, lines: int) -> Response:
        entries = await mgr.journal(name, lines)
        return Response(
            200, "".join(_render(e.ts, e.identifier, e.pid, e.message) for e in entries).encode()
        )

    def _follow(self, mgr: UnitManager, name: str, lines: int) -> StreamResponse:
        resp = StreamResponse(200, [("Content-Type", "text/plain")])

        async def pump() -> None:
            async for e in mgr.follow(name, lines):
                resp.send(_render(e.ts, e.identifier, e.pid, e.message).encode())

        task = asyncio.ensure_future(pump())

        def on_close() -> None:
            task.cancel()

        resp.on_close = on_close
        return resp

    async def _restart(self, mgr: UnitManager, name: str) -> Response:
        result = await mgr.restart(name)
        code = 200 if result.value == "done" else 500
        if code != 200:
            return _err(code, f"restart of {name} ended: {result.value}")
        return _ok({"result": result.value})

    async def _status(self, mgr: UnitManager, name: str) -> Response:
        st = await mgr.status(name)
        lines = [
            f"● {name} - {st.description}",
            f"   Loaded: {st.load_state} ({st.fragment_path})",
            f"   Active: {st.active_state} ({st.sub_state})",
        ]
        if st.main_pid:
            lines.append(f" Main PID: {st.main_pid}")
        entries = await mgr.journal(name, 10)
        lines += [
            "",
            *(_render(e.ts, e.identifier, e.pid, e.message).rstrip("\n") for e in entries),
        ]
        return Response(200, ("\n".join(lines) + "\n").encode())


def _render(ts: float, ident: str, pid: int, msg: str) -> str:
    import time

    stamp = time.strftime("%b %d %H:%M:%S", time.localtime(ts))
    return f"{stamp} {ident}[{pid}]: {msg}\n"


async def _exec(body: bytes) -> Response:
    try:
        argv = json.loads(body)["argv"]
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return _err(400, 'unable to decode body: expected {"argv": [...]}')
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return _ok({"exitCode": proc.returncode, "output": out.decode(errors="replace")})


_DISCOVERY: dict[str, Any] = {
    "kind": "discovery#restDescription",
    "discoveryVersion": "v1",
    "id": "fleet:v1",
    "name": "schema",
    "version": "v1",
    "title": "fleet API",
    "description": "",
    "documentationLink": "http://github.com/coreos/fleet",
    "protocol": "rest",
    "rootUrl": "$ENDPOINT/",
    "servicePath": "fleet/v1/",
    "resources": {
        "Units": {"methods": {"List": {}, "Get": {}, "Delete": {}, "Set": {}}},
        "UnitState": {"methods": {"List": {}}},
        "Machines": {"methods": {"List": {}}},
    },
}
