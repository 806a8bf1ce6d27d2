"""Check a connecting peer's certificate SANs against the address it connects from.

etcd >= 3.2 ("deny incoming peer certs with wrong IP SAN", ``checkCertSAN`` in
``pkg/transport/listener.go``): when a peer presents a client certificate that lists IP or
DNS SANs, the peer listener accepts the connection only if the remote IP is one of the IP
SANs, or one of the DNS SANs resolves to it. A certificate without any SAN is accepted (the
CA check already happened in the handshake). This stops a stolen peer certificate from being
used from another machine.

The decision (:func:`san_problem`) is pure; :func:`san_checked` wraps any asyncio protocol
factory so the inner protocol sees no byte from a peer that fails the check. DNS SANs are
resolved off the event loop (``loop.getaddrinfo``) while the peer's first bytes are held back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable

from cryptography import x509

log = logging.getLogger("pycoreos.tls")


def cert_sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """The certificate's (IP SANs, DNS SANs) as strings."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    ips = [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return ips, list(ext.get_values_for_type(x509.DNSName))


def _same_ip(a: str, b: str) -> bool:
    try:
        ia, ib = ipaddress.ip_address(a), ipaddress.ip_address(b)
    except ValueError:
        return False
    # An IPv4 peer seen on a dual-stack socket arrives as ::ffff:a.b.c.d.
    if isinstance(ia, ipaddress.IPv6Address) and ia.ipv4_mapped is not None:
        ia = ia.ipv4_mapped
    if isinstance(ib, ipaddress.IPv6Address) and ib.ipv4_mapped is not None:
        ib = ib.ipv4_mapped
    return ia == ib


def san_problem(
    cert: x509.Certificate, remote_ip: str, resolved: Iterable[str] | None = None
) -> str | None:
    """Why ``cert`` must not be accepted from ``remote_ip``, or None when it may.

    Args:
        cert: the peer's client certificate (already verified against the CA).
        remote_ip: the address the connection comes from.
        resolved: the addresses the certificate's DNS SANs resolve to; None when they were
            not resolved yet (then only IP SANs can accept).
    """
    ips, names = cert_sans(cert)
    if not ips and not names:
        return None
    if any(_same_ip(ip, remote_ip) for ip in ips):
        return None
    if names and resolved is not None and any(_same_ip(a, remote_ip) for a in resolved):
        return None
    return (
        f"tls: peer certificate is valid for {', '.join([*ips, *names])}, "
        f"not for the connecting address {remote_ip}"
    )


def _cert_of(transport: asyncio.BaseTransport) -> x509.Certificate | None:
    ssl_object = transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return x509.load_der_x509_certificate(der) if der else None


async def _resolve(names: list[str]) -> list[str]:
    loop = asyncio.get_running_loop()
    out: list[str] = []
    for name in names:
        try:
            infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except OSError:
            continue
        out += [str(info[4][0]) for info in infos]
    return out


class _SanChecked(asyncio.Protocol):
    """Holds the inner protocol back until the peer's SANs are known to be acceptable."""

    def __init__(self, inner: asyncio.Protocol) -> None:
        self._inner = inner
        self._held: list[bytes] | None = []  # None once the inner protocol owns the stream
        self._eof = False
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        cert = _cert_of(transport)
        peer = transport.get_extra_info("peername")
        remote = str(peer[0]) if peer else ""
        if cert is None or san_problem(cert, remote) is None:
            self._accept()
            return
        _, names = cert_sans(cert)
        if not names:
            self._reject(cert, remote, None)
            return
        task = asyncio.get_running_loop().create_task(_resolve(names))
        task.add_done_callback(lambda t: self._decide(cert, remote, t))

    def _decide(self, cert: x509.Certificate, remote: str, task: asyncio.Task[list[str]]) -> None:
        assert self._transport is not None
        if self._transport.is_closing():
            return
        resolved = [] if task.cancelled() or task.exception() else task.result()
        if san_problem(cert, remote, resolved) is None:
            self._accept()
        else:
            self._reject(cert, remote, resolved)

    def _accept(self) -> None:
        assert self._transport is not None
        held, self._held = self._held or [], None
        self._inner.connection_made(self._transport)
        for chunk in held:
            self._inner.data_received(chunk)
        if self._eof:
            self._inner.eof_received()

    def _reject(self, cert: x509.Certificate, remote: str, resolved: list[str] | None) -> None:
        assert self._transport is not None
        log.warning("rejected peer connection: %s", san_problem(cert, remote, resolved))
        # A rejected peer gets no orderly close: drop the connection, as etcd's listener does.
        if isinstance(self._transport, asyncio.Transport):
            self._transport.abort()
        else:  # uvloop's transports do not subclass asyncio.Transport but have abort()
            getattr(self._transport, "abort", self._transport.close)()

    def data_received(self, data: bytes) -> None:
        if self._held is None:
            self._inner.data_received(data)
        else:
            self._held.append(data)

    def eof_received(self) -> bool | None:
        if self._held is None:
            return self._inner.eof_received()
        self._eof = True
        return True  # keep the transport open until the decision

    def connection_lost(self, exc: Exception | None) -> None:
        if self._held is None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._held is None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._held is None:
            self._inner.resume_writing()


def san_checked(factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
    """Wrap a protocol factory for a TLS peer listener with the SAN-vs-address check."""
    return lambda: _SanChecked(factory())
