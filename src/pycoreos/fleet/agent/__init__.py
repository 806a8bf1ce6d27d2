"""fleet's agent: the pure task planner and the driver that runs tasks on a unit manager."""
