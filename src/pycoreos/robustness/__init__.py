"""The robustness suite: real ``pycoreos etcd`` clusters under injected faults, checked.

* :mod:`.cluster`: member processes behind peer proxies; kill, pause, restart, membership.
* :mod:`.faultdisk`: the ``PYCOREOS_DISK_FAULTS`` storage shim (lazy fsync, ENOSPC, EIO).
* :mod:`.workload`: recording v2 clients and watchers.
* :mod:`.checks`: the universal criteria U1-U3 as pure functions.
* :mod:`.scenarios`: the fault scripts T1-T16 (the v2 ones).
* :mod:`.runner`: one scenario, one seed, one fresh cluster, one verdict.

Entry point: ``pycoreos torture`` (:mod:`pycoreos.cli.torture`). Design:
``docs/design/robustness.md``.
"""
