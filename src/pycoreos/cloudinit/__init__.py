"""cloud-config: parse, validate, plan and apply (``coreos-cloudinit`` rebuilt)."""
