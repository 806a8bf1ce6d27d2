"""Errors of the discovery bootstrap, with etcd's exact texts (``v2discovery/discovery.go``).

``FullClusterError`` is the one a caller acts on (``--discovery-fallback``); the others stop
the member with their message.
"""

from __future__ import annotations

from pycoreos.errors import StackError


class DiscoveryError(StackError):
    """Bootstrapping from a discovery URL failed; ``str()`` is etcd's message."""

    message = "discovery: error"

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        super().__init__(f"{self.message} ({detail})" if detail else self.message)


class InvalidURLError(DiscoveryError):
    """A registered value, or the discovery URL itself, is not a valid URL."""

    message = "discovery: invalid URL"


class BadSizeKeyError(DiscoveryError):
    """``_config/size`` is not a positive integer."""

    message = "discovery: size key is bad"


class SizeNotFoundError(DiscoveryError):
    """``_config/size`` is missing: the token never existed or was deleted."""

    message = "discovery: size key not found"


class DuplicateIdError(DiscoveryError):
    """This member id is already registered under the token (a reused token)."""

    message = "discovery: found duplicate id"


class DuplicateNameError(DiscoveryError):
    """Two registered members share a name."""

    message = "discovery: found duplicate name"


class FullClusterError(DiscoveryError):
    """``size`` members registered before this one."""

    message = "discovery: cluster is full"


class TooManyRetriesError(DiscoveryError):
    """The discovery service stayed unreachable through every retry."""

    message = "discovery: too many retries"


class BadDiscoveryEndpointError(DiscoveryError):
    """The discovery URL answered something that is not the v2 keys JSON."""

    message = "discovery: bad discovery endpoint"
