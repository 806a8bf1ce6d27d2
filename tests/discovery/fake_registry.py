"""A tiny in-memory stand-in for a discovery URL (the v2 keys subset discovery uses).

Threaded, so several members can long-poll at once. Supports: GET of a key or of the token
directory, PUT with ``prevExist=false``, and ``wait=true&waitIndex=N[&recursive=true]``
watches; every answer carries ``X-Etcd-Index``. ``mode`` switches it into failure modes.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Registry:
    def __init__(self, token: str, size: str | None) -> None:
        self.token = "/" + token
        self.cond = threading.Condition()
        self.index = 1
        self.keys: dict[str, tuple[str, int]] = {}
        self.mode = "ok"  # "ok" | "html" | "500"
        if size is not None:
            self.keys[self.token + "/_config/size"] = (size, 1)

    def node(self, key: str) -> dict[str, object]:
        value, idx = self.keys[key]
        return {"key": key, "value": value, "createdIndex": idx, "modifiedIndex": idx}


def serve(reg: Registry) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: object) -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Etcd-Index", str(reg.index))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if reg.mode == "html":
                return self._send(200, "<html>not etcd</html>")
            if reg.mode == "500":
                return self._send(500, {"message": "down"})
            parts = urlsplit(self.path)
            q = {k: v[0] for k, v in parse_qs(parts.query).items()}
            key = parts.path.rstrip("/")
            if q.get("wait") == "true":
                return self._watch(key, int(q["waitIndex"]), q.get("recursive") == "true")
            with reg.cond:
                if key in reg.keys:
                    return self._send(200, {"action": "get", "node": reg.node(key)})
                children = [reg.node(k) for k in reg.keys if k.startswith(key + "/")
                            and "/" not in k[len(key) + 1:]]  # fmt: skip
                if key == reg.token and (children or reg.keys):
                    dirs = [{"key": key + "/_config", "dir": True, "createdIndex": 1}]
                    nodes = dirs + children
                    return self._send(200, {"action": "get", "node": {"key": key, "dir": True,
                                                                      "nodes": nodes}})  # fmt: skip
            return self._send(404, {"errorCode": 100, "message": "Key not found", "cause": key})

        def _watch(self, key: str, since: int, recursive: bool) -> None:
            with reg.cond:
                while True:
                    hits = sorted(
                        (idx, k) for k, (_, idx) in reg.keys.items()
                        if idx >= since and (k == key or (recursive and k.startswith(key + "/")))
                    )  # fmt: skip
                    if hits:
                        return self._send(200, {"action": "create", "node": reg.node(hits[0][1])})
                    reg.cond.wait(timeout=10)

        def do_PUT(self) -> None:
            parts = urlsplit(self.path)
            key = parts.path.rstrip("/")
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            with reg.cond:
                if key in reg.keys:
                    return self._send(412, {"errorCode": 105, "message": "Key already exists"})
                reg.index += 1
                reg.keys[key] = (form["value"], reg.index)
                reg.cond.notify_all()
                return self._send(201, {"action": "create", "node": reg.node(key)})

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv
