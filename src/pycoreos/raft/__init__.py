"""Sans-IO Raft consensus core, modelled on etcd-io/raft's RawNode/Ready."""
