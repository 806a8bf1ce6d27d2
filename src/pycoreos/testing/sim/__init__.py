"""pycoreos.testing.sim: deterministic simulation pieces (disk, network, clock, loop, cluster)."""
