"""The fleet registry: typed operations on fleet's etcd layout (see :mod:`.layout`).

Every write that depends on something read is conditional, so a decision made on stale data
loses instead of overwriting a newer one:

- scheduling creates ``target`` with ``prevExist=false`` (two engines cannot both place it);
- unscheduling deletes ``target`` with ``prevIndex`` (or ``prevValue``) of what was read;
- the engine lease is created with ``prevExist=false``, renewed and released with
  ``prevIndex``; a renewal that fails means the lease is lost, and the engine stops acting;
- creating a unit creates ``job/<name>/object`` with ``prevExist=false``.

A lost condition raises :class:`~pycoreos.fleet.errors.ConflictError`; an unreachable etcd
raises :class:`~pycoreos.fleet.errors.RegistryUnavailableError`.
"""

from __future__ import annotations

import json

from pycoreos.client.v2_errors import EtcdError
from pycoreos.fleet.errors import ConflictError, NotFoundError, RegistryError
from pycoreos.fleet.job import JobState, Unit
from pycoreos.fleet.machine import MachineState
from pycoreos.fleet.registry.etcd import AsyncEtcd
from pycoreos.fleet.registry.layout import (
    ENGINE_VERSION,
    Keys,
    LeaseRecord,
    Snapshot,
    UnitStateRecord,
    _decode_job,
    _decode_lease,
    _decode_state,
    decode_snapshot,
    job_object,
    unit_object,
)
from pycoreos.fleet.unit import FleetUnitFile

__all__ = ["Registry"]

# etcd v2 error codes that mean "your condition did not hold".
_LOST = {101, 102, 105}  # test failed, not a file... , node exists
_NOT_FOUND = 100


def _conflict(e: EtcdError) -> RegistryError:
    if e.code in _LOST or e.code == _NOT_FOUND:
        return ConflictError(f"registry: {e}")
    return RegistryError(f"registry: {e}")


class Registry:
    """fleet's registry over an :class:`AsyncEtcd` client."""

    def __init__(self, etcd: AsyncEtcd, prefix: str = "/_coreos.com/fleet/") -> None:
        self.etcd = etcd
        self.keys = Keys(prefix)

    async def close(self) -> None:
        """Close the etcd connections."""
        await self.etcd.close()

    # -- reads ------------------------------------------------------------------------

    async def snapshot(self, *, quorum: bool = False) -> Snapshot:
        """Everything under the prefix, decoded, at one etcd index."""
        params = {"recursive": "true"}
        if quorum:
            params["quorum"] = "true"
        try:
            resp = await self.etcd.request("GET", self.keys.prefix, params)
        except EtcdError as e:
            if e.code == _NOT_FOUND:  # nothing stored yet: empty, at the store's index
                return Snapshot(index=e.index)
            raise RegistryError(f"registry: {e}") from None
        return decode_snapshot(self.keys, resp.node, resp.etcd_index)

    async def unit(self, name: str, *, quorum: bool = False) -> tuple[Unit | None, JobState | None]:
        """One unit and its derived current state, with small reads (no full snapshot)."""
        params = {"recursive": "true", **({"quorum": "true"} if quorum else {})}
        try:
            resp = await self.etcd.request("GET", self.keys.job(name), params)
        except EtcdError as e:
            if e.code == _NOT_FOUND:
                return None, None
            raise RegistryError(f"registry: {e}") from None
        attrs = {
            n.key.rsplit("/", 1)[-1]: (n.value or "", n.modified_index) for n in resp.node.nodes
        }
        try:
            hash_hex = bytes(json.loads(attrs["object"][0])["UnitHash"]).hex()
        except (KeyError, ValueError, TypeError):
            return None, None
        raw = await self.etcd.get(self.keys.unit(hash_hex), quorum=quorum)
        if raw is None:
            return None, None
        u = _decode_job(name, attrs, {hash_hex: raw.node.value or ""})
        if u is None or u.is_global:
            return u, None
        if not u.target:
            return u, JobState.INACTIVE
        st = await self.etcd.get(self.keys.state(name, u.target))
        rec = _decode_state(name, u.target, st.node.value or "") if st is not None else None
        return u, rec.fleet_state if rec is not None else JobState.INACTIVE

    # -- units ------------------------------------------------------------------------

    async def create_unit(self, name: str, uf: FleetUnitFile, state: JobState) -> None:
        """Store the file (content-addressed), then the job object, then its desired state.

        Raises:
            ConflictError: a unit of that name exists.
        """
        try:
            await self.etcd.set(self.keys.unit(uf.hash_hex), unit_object(uf), prev_exist=False)
        except EtcdError as e:
            if e.code != 105:  # already stored by an identical unit: fine
                raise _conflict(e) from None
        try:
            await self.etcd.set(self.keys.job_object(name), job_object(name, uf), prev_exist=False)
        except EtcdError as e:
            raise _conflict(e) from None
        await self.set_target_state(name, state)

    async def replace_unit(self, name: str, uf: FleetUnitFile, state: JobState) -> None:
        """Point an existing unit at a new file (``--replace``); agents then reload it."""
        try:
            await self.etcd.set(self.keys.unit(uf.hash_hex), unit_object(uf), prev_exist=False)
        except EtcdError as e:
            if e.code != 105:
                raise _conflict(e) from None
        try:
            await self.etcd.set(self.keys.job_object(name), job_object(name, uf))
        except EtcdError as e:
            raise _conflict(e) from None
        await self.set_target_state(name, state)

    async def set_target_state(self, name: str, state: JobState) -> None:
        """Write the desired state."""
        try:
            await self.etcd.set(self.keys.target_state(name), state.value)
        except EtcdError as e:
            raise _conflict(e) from None

    async def destroy_unit(self, name: str) -> None:
        """Remove the job (the content object stays: other units may share it).

        Raises:
            NotFoundError: no such unit.
        """
        try:
            await self.etcd.delete(self.keys.job(name), recursive=True)
        except EtcdError as e:
            if e.code == _NOT_FOUND:
                raise NotFoundError(f"unit {name} does not exist") from None
            raise _conflict(e) from None

    async def schedule(self, name: str, machine_id: str) -> None:
        """Set the target machine if none is set (``prevExist=false``)."""
        try:
            await self.etcd.set(self.keys.target(name), machine_id, prev_exist=False)
        except EtcdError as e:
            raise _conflict(e) from None

    async def unschedule(self, name: str, machine_id: str, index: int = 0) -> None:
        """Clear the target if it is still what was read (index, else value)."""
        try:
            if index:
                await self.etcd.delete(self.keys.target(name), prev_index=index)
            else:
                await self.etcd.delete(self.keys.target(name), prev_value=machine_id)
        except EtcdError as e:
            raise _conflict(e) from None

    # -- machines ---------------------------------------------------------------------

    async def heartbeat(self, ms: MachineState, ttl: float, *, refresh: bool) -> None:
        """Publish presence. ``refresh`` only extends the TTL (no watch event, no value).

        Raises:
            ConflictError: ``refresh`` and the key had expired (publish in full).
        """
        try:
            if refresh:
                await self.etcd.set(
                    self.keys.machine(ms.id), "", ttl=ttl, refresh=True, prev_exist=True
                )
            else:
                await self.etcd.set(self.keys.machine(ms.id), ms.to_json(), ttl=ttl)
        except EtcdError as e:
            raise _conflict(e) from None

    async def remove_machine(self, machine_id: str) -> None:
        """Delete presence (clean shutdown)."""
        try:
            await self.etcd.delete(self.keys.machine(machine_id))
        except EtcdError as e:
            if e.code != _NOT_FOUND:
                raise _conflict(e) from None

    async def set_machine_metadata(self, machine_id: str, key: str, value: str | None) -> None:
        """Set (or with ``None`` delete) one API metadata key."""
        k = self.keys.machine_meta(machine_id, key)
        try:
            if value is None:
                await self.etcd.delete(k)
            else:
                await self.etcd.set(k, value)
        except EtcdError as e:
            if not (value is None and e.code == _NOT_FOUND):
                raise _conflict(e) from None

    # -- unit states ------------------------------------------------------------------

    async def save_unit_state(self, rec: UnitStateRecord, ms: MachineState | None = None) -> None:
        """Publish what an agent sees for one unit."""
        await self.etcd.set(self.keys.state(rec.name, rec.machine_id), rec.to_json(ms))

    async def remove_unit_state(self, name: str, machine_id: str) -> None:
        """Forget one unit state; absent is fine."""
        try:
            await self.etcd.delete(self.keys.state(name, machine_id))
        except EtcdError as e:
            if e.code != _NOT_FOUND:
                raise _conflict(e) from None

    # -- engine lease -----------------------------------------------------------------

    def _lease_value(self, machine_id: str) -> str:
        return json.dumps(
            {"MachineID": machine_id, "Version": ENGINE_VERSION}, separators=(",", ":")
        )

    async def get_lease(self) -> LeaseRecord | None:
        """The engine lease as this member sees it (a cheap, non-quorum read)."""
        try:
            r = await self.etcd.get(self.keys.lease)
        except EtcdError as e:
            raise RegistryError(f"registry: {e}") from None
        return None if r is None else _decode_lease(r.node.value or "", r.node)

    async def acquire_lease(self, machine_id: str, ttl: float) -> LeaseRecord:
        """Take the engine lease if nobody holds it.

        Raises:
            ConflictError: held by someone (maybe us, from before a restart).
        """
        try:
            r = await self.etcd.set(
                self.keys.lease, self._lease_value(machine_id), ttl=ttl, prev_exist=False
            )
        except EtcdError as e:
            raise _conflict(e) from None
        return LeaseRecord(machine_id, ENGINE_VERSION, r.node.modified_index, int(ttl))

    async def renew_lease(self, lease: LeaseRecord, ttl: float) -> LeaseRecord:
        """Extend a lease we hold.

        Raises:
            ConflictError: it changed since we last wrote it: we are no longer the leader.
        """
        try:
            r = await self.etcd.set(
                self.keys.lease,
                self._lease_value(lease.machine_id),
                ttl=ttl,
                prev_index=lease.index,
            )
        except EtcdError as e:
            raise _conflict(e) from None
        return LeaseRecord(lease.machine_id, lease.version, r.node.modified_index, int(ttl))

    async def release_lease(self, lease: LeaseRecord) -> None:
        """Give the lease up (only if it is still ours)."""
        try:
            await self.etcd.delete(self.keys.lease, prev_index=lease.index)
        except EtcdError as e:
            if e.code not in (_NOT_FOUND, *_LOST):
                raise _conflict(e) from None
