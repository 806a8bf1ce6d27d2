"""etcdctl v2 output: response printing, Go-compatible JSON, error reporting, exit codes.

Texts and streams are copied from etcd 3.4's ``etcdctl/ctlv2/command/{format,error}.go``:
results go to stdout, errors to stderr as ``Error:  <err>`` (two spaces: Go's ``Fprintln``
puts one between its arguments and the literal already ends in one).
"""

from __future__ import annotations

import sys
from typing import TextIO

from pycoreos.client.v2 import ClusterUnavailableError, Node, Response

# etcdctl/ctlv2/command/error.go
EXIT_SUCCESS = 0
EXIT_BAD_ARGS = 1
EXIT_BAD_CONNECTION = 2
EXIT_BAD_AUTH = 3
EXIT_SERVER_ERROR = 4
EXIT_CLUSTER_NOT_HEALTHY = 5


class Exit(Exception):  # noqa: N818 - mirrors Go's os.Exit, not an error condition
    """Raised to end the command with ``code`` (output already written)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def go_json_str(s: str) -> str:
    """A JSON string literal exactly as Go's ``encoding/json`` writes it (HTML-safe)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or ch in "<>&" or o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")  # lone surrogate from undecodable input
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_node_json(n: Node) -> str:
    """Go ``client.Node`` marshalled: key, dir (omitempty), value, nodes (null if none), ..."""
    parts = [f'"key":{go_json_str(n.key)}']
    if n.dir:
        parts.append('"dir":true')
    parts.append(f'"value":{go_json_str(n.value or "")}')
    nodes = "null" if not n.nodes else "[" + ",".join(go_node_json(c) for c in n.nodes) + "]"
    parts.append(f'"nodes":{nodes}')
    parts.append(f'"createdIndex":{n.created_index}')
    parts.append(f'"modifiedIndex":{n.modified_index}')
    if n.expiration is not None:
        parts.append(f'"expiration":{go_json_str(n.expiration)}')
    if n.ttl:
        parts.append(f'"ttl":{n.ttl}')
    return "{" + ",".join(parts) + "}"


def go_response_json(r: Response) -> str:
    """Go ``client.Response`` marshalled (index and cluster id are not serialised)."""
    prev = "null" if r.prev_node is None else go_node_json(r.prev_node)
    return f'{{"action":{go_json_str(r.action)},"node":{go_node_json(r.node)},"prevNode":{prev}}}'


def go_quote(s: str) -> str:
    """Go ``%q`` of a string (used in ``--debug`` cURL lines)."""
    out = ['"']
    esc = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    esc |= {"\v": "\\v", '"': '\\"', "\\": "\\\\"}
    for ch in s:
        if ch in esc:
            out.append(esc[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif not ch.isprintable() and ch != " ":
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def print_response_key(resp: Response, fmt: str, out: TextIO, err: TextIO) -> None:
    """``printResponseKey``: one response in the simple, extended or json format."""
    if fmt == "simple":
        if resp.action != "delete":
            print(resp.node.value or "", file=out)
        else:
            print("PrevNode.Value:", _prev_value(resp), file=out)
    elif fmt == "extended":
        print("Key:", resp.node.key, file=out)
        print("Created-Index:", resp.node.created_index, file=out)
        print("Modified-Index:", resp.node.modified_index, file=out)
        if resp.prev_node is not None:
            print("PrevNode.Value:", resp.prev_node.value or "", file=out)
        print("TTL:", resp.node.ttl or 0, file=out)
        print("Index:", resp.etcd_index, file=out)
        if resp.action != "delete":
            print("", file=out)
            print(resp.node.value or "", file=out)
    elif fmt == "json":
        print(go_response_json(resp), file=out)
    else:
        print("Unsupported output format:", fmt, file=err)


def _prev_value(resp: Response) -> str:
    return "" if resp.prev_node is None else resp.prev_node.value or ""


def error_exit(code: int, e: BaseException | str, err: TextIO | None = None) -> Exit:
    """``handleError``: print ``Error:  <e>`` (plus cluster detail) and return :class:`Exit`.

    Go's ``-o json`` branch never fires for keys errors (it tests for ``*client.Error`` while
    the client returns ``client.Error`` values), so the text form is used for every format.
    """
    stream = err or sys.stderr
    print("Error: ", e, file=stream)
    if isinstance(e, ClusterUnavailableError):
        print(e.detail(), file=stream)
    return Exit(code)
