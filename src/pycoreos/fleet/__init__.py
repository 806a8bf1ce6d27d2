"""fleet: a cluster-wide init system on etcd (fleetd engine + agent, registry, HTTP API).

Pure cores: :mod:`.unit`, :mod:`.job`, :mod:`.machine`, :mod:`.glob`,
:mod:`.engine.scheduler`, :mod:`.engine.reconciler`, :mod:`.agent.reconcile`.
Drivers (asyncio): :mod:`.registry`, :mod:`.engine.driver`, :mod:`.agent.runner`,
:mod:`.server`, :mod:`.api`.
"""
