"""The Raft peer transport: a framed binary stream between members, on the peer URLs."""
