"""The HTTP side of the peer port: what other members ask while bootstrapping or joining.

- ``GET /members``: this member's view of the cluster, a JSON list of members
  (``id``, ``name``, ``peerURLs``, ``clientURLs``) with the ``X-Etcd-Cluster-ID`` header, as
  etcd's peer handler answers it; a member joining with ``--initial-cluster-state existing``
  reads it to learn its id and the cluster id.
- ``GET /version``: the same body as the client ``/version``.

Raft traffic itself does not go through HTTP (see ``pycoreos.transport``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pycoreos import ETCD_SERVER_VERSION
from pycoreos.api.http import Request, Response
from pycoreos.server.membership import id_hex

if TYPE_CHECKING:
    from pycoreos.server.server import EtcdServer


class PeerHandler:
    """``pycoreos.api.http.Handler`` for HTTP requests on the peer port."""

    def __init__(self, server: EtcdServer) -> None:
        self._server = server

    def __call__(self, req: Request) -> Response:
        server = self._server
        if req.method != "GET":
            return Response(405, b"Method Not Allowed\n", [("Allow", "GET")])
        if req.path == "/members":
            body = [
                {**m.to_json_dict(), **({"isLearner": True} if m.is_learner else {})}
                for m in server.cluster.sorted_members()
            ]
            return Response(
                200,
                json.dumps(body, separators=(",", ":")).encode(),
                [
                    ("Content-Type", "application/json"),
                    ("X-Etcd-Cluster-Id", id_hex(server.cluster.cluster_id)),
                ],
            )
        if req.path == "/version":
            version = server.cluster.version or "not_decided"
            body_v = json.dumps({"etcdserver": ETCD_SERVER_VERSION, "etcdcluster": version})
            return Response(200, body_v.encode(), [("Content-Type", "application/json")])
        return Response(404, b"404 page not found\n", [("Content-Type", "text/plain")])
