"""A tiny authoritative DNS server on 127.0.0.1 (UDP) for SRV discovery tests.

It answers from a fixed table: SRV records per name; any other name in the zone is NXDOMAIN,
and a known name asked for another type gets an empty answer (NOERROR, NODATA). Responses are
built by dnspython. Point a member at it with ``PYCOREOS_DNS_SERVER=127.0.0.1:<port>``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

# name -> [(priority, weight, port, target)]
SrvTable = dict[str, list[tuple[int, int, int, str]]]


def _answer(wire: bytes, table: SrvTable) -> bytes | None:
    try:
        query = dns.message.from_wire(wire)
    except Exception:  # garbage: no answer, as a real server drops it
        return None
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    if not query.question:
        response.set_rcode(dns.rcode.FORMERR)
        return response.to_wire()
    q = query.question[0]
    name = q.name.to_text().lower()
    records = table.get(name)
    if records is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
    elif q.rdtype == dns.rdatatype.SRV:
        texts = [f"{p} {w} {port} {target}" for p, w, port, target in records]
        rrset = dns.rrset.from_text_list(q.name, 60, dns.rdataclass.IN, dns.rdatatype.SRV, texts)
        response.answer.append(rrset)
    return response.to_wire()


@contextmanager
def dns_server(table: SrvTable) -> Iterator[tuple[int, list[str]]]:
    """Serve ``table`` (names fully qualified, lower case) on 127.0.0.1; yields the port and
    the list of names asked so far."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    asked: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                asked.append(dns.message.from_wire(wire).question[0].name.to_text())
            except Exception:  # garbage is counted by nothing
                pass
            out = _answer(wire, table)
            if out is not None:
                sock.sendto(out, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], asked
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()
