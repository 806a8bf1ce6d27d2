"""fleet's engine: the pure scheduler and reconciler, and the lease-holding driver."""
