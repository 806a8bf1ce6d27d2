"""The etcd v2 HTTP+JSON API: routing, the keys/members/stats handlers, and form parsing."""
