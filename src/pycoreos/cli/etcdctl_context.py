"""The per-invocation context of ``pycoreos etcdctl``: global options and client construction.

Mirrors etcdctl v2's ``util.go``: endpoint resolution order (``--endpoints``,
``ETCDCTL_ENDPOINTS``, ``--endpoint``, ``ETCDCTL_ENDPOINT``, ``--peers``, ``ETCDCTL_PEERS``,
default), TLS files from flags or ``ETCDCTL_*_FILE``, ``--username``/``ETCDCTL_USERNAME``
(password prompted when no ``:``), and the cluster sync before keys commands unless
``--no-sync``, with its ``--debug`` traces on stderr.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from pycoreos.cli.etcdctl_flags import FlagValue
from pycoreos.cli.etcdctl_output import (
    EXIT_BAD_CONNECTION,
    EXIT_SERVER_ERROR,
    Exit,
    error_exit,
    go_quote,
)
from pycoreos.client.http_transport import HttpRequest, HttpTransport
from pycoreos.client.v2 import (
    Client,
    ClientError,
    ClusterUnavailableError,
    DeadlineExceededError,
)

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
DEFAULT_ENDPOINTS = "http://127.0.0.1:2379,http://127.0.0.1:4001"


@dataclass
class Context:
    """Everything a command needs: parsed flags, positional args, streams, environment."""

    globals: dict[str, FlagValue]
    env: Mapping[str, str]
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    flags: dict[str, FlagValue] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def on_close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the invocation ends (release connections)."""
        self._closers.append(fn)

    def close(self) -> None:
        """Close every client and resource this invocation created."""
        for c in self.clients:
            c.close()
        self.clients.clear()
        while self._closers:
            self._closers.pop()()

    def gstr(self, name: str) -> str:
        return str(self.globals.get(name, ""))

    def gbool(self, name: str) -> bool:
        return bool(self.globals.get(name, False))

    def gfloat(self, name: str) -> float:
        return float(self.globals.get(name, 0.0))

    def flag(self, name: str) -> bool:
        return bool(self.flags.get(name, False))

    def num(self, name: str) -> int:
        v = self.flags.get(name, 0)
        return v if isinstance(v, int) else 0

    def text(self, name: str) -> str:
        return str(self.flags.get(name, ""))

    @property
    def output(self) -> str:
        return self.gstr("output")

    # -- client construction --------------------------------------------------------------

    def endpoints(self) -> list[str]:
        """``getPeersFlagValue`` + ``getEndpoints``: first non-empty source, scheme defaulted."""
        raw = ""
        for flag, env in (("endpoints", "ETCDCTL_ENDPOINTS"), ("endpoint", "ETCDCTL_ENDPOINT")):
            raw = raw or self.gstr(flag) or self.env.get(env, "")
        raw = raw or self.gstr("peers") or self.env.get("ETCDCTL_PEERS", "") or DEFAULT_ENDPOINTS
        out = []
        for e in raw.split(","):
            if "://" not in e and ":" in e.split("/")[0] and not _SCHEME.match(e):
                # Go url.Parse: "127.0.0.1:2379" has no scheme and a colon in its path.
                print(
                    f'parse "{e}": first path segment in URL cannot contain colon', file=self.stderr
                )
                raise Exit(1)
            out.append(e if "://" in e or _SCHEME.match(e) else "http://" + e)
        return out

    def _credentials(self) -> tuple[str | None, str | None]:
        flag = self.gstr("username") or self.env.get("ETCDCTL_USERNAME", "")
        if not flag:
            return None, None
        user, colon, password = flag.partition(":")
        if not colon:
            password = getpass.getpass("Password: ")
        return user, password

    def _tls(self, name: str, env: str) -> str | None:
        return self.gstr(name) or self.env.get(env) or None

    def _debug_hook(self, url: str, req: HttpRequest) -> None:
        line = f"curl -X {req.method} {url}"
        if req.body is not None:
            line += " -d " + go_quote(req.body.decode("utf-8", "replace"))
        print(f"cURL Command: {line}", file=self.stderr)

    def new_transport(self) -> HttpTransport:
        """A bare transport with the TLS settings (``cluster-health`` probes members directly)."""
        return HttpTransport(
            ca_file=self._tls("ca-file", "ETCDCTL_CA_FILE"),
            cert_file=self._tls("cert-file", "ETCDCTL_CERT_FILE"),
            key_file=self._tls("key-file", "ETCDCTL_KEY_FILE"),
        )

    def new_client(self) -> Client:
        """``newClient``: a client over the resolved endpoints, without syncing."""
        user, password = self._credentials()
        timeout = self.gfloat("timeout")
        total = self.gfloat("total-timeout")
        client = Client(
            self.endpoints(),
            # Go: no header timeout when --timeout is 0; the dial timeout is then 30s.
            timeout=timeout if timeout > 0 else 30.0,
            total_timeout=total if total > 0 else None,
            ca_file=self._tls("ca-file", "ETCDCTL_CA_FILE"),
            cert_file=self._tls("cert-file", "ETCDCTL_CERT_FILE"),
            key_file=self._tls("key-file", "ETCDCTL_KEY_FILE"),
            username=user,
            password=password,
            on_request=self._debug_hook if self.gbool("debug") else None,
        )
        self.clients.append(client)
        return client

    def client_no_sync(self) -> Client:
        """``mustNewClientNoSync``."""
        c = self.new_client()
        if self.gbool("debug"):
            print(f"Cluster-Endpoints: {', '.join(c.endpoints)}", file=self.stderr)
        return c

    def client(self) -> Client:
        """``mustNewClient``: build, then sync the endpoint list unless ``--no-sync``."""
        c = self.new_client()
        debug = self.gbool("debug")
        if not self.gbool("no-sync"):
            if debug:
                eps = ",".join(c.endpoints)
                print(f"start to sync cluster using endpoints({eps})", file=self.stderr)
            try:
                self._sync(c)
            except DeadlineExceededError as e:
                raise error_exit(EXIT_BAD_CONNECTION, e, self.stderr) from e
            except ClusterUnavailableError as e:
                # isConnectionError: only pure connection failures abort; others are ignored.
                if e.connection_only:
                    raise error_exit(EXIT_BAD_CONNECTION, e, self.stderr) from e
            except ClientError:
                pass
            if debug:
                eps = ",".join(c.endpoints)
                print(f"got endpoints({eps}) after sync", file=self.stderr)
        if debug:
            print(f"Cluster-Endpoints: {', '.join(c.endpoints)}", file=self.stderr)
        return c

    def _sync(self, c: Client) -> None:
        urls = sorted(u for m in c.members() for u in m.client_urls)
        if not urls:
            eps = ",".join(c.endpoints)
            print("etcd cluster has no published client endpoints.", file=self.stderr)
            print(
                f"Try '--no-sync' if you want to access non-published client endpoints({eps}).",
                file=self.stderr,
            )
            raise error_exit(EXIT_SERVER_ERROR, "client: no endpoints available", self.stderr)
        c.set_endpoints(urls)


__all__ = ["DEFAULT_ENDPOINTS", "Context", "Exit"]
