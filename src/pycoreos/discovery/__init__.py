"""etcd discovery: the token service (``pycoreos discovery``) and the member's bootstrap client.

* :mod:`~pycoreos.discovery.protocol`: the protocol's decisions (pure).
* :mod:`~pycoreos.discovery.client`: :class:`DiscoveryClient`, used by ``pycoreos etcd
  --discovery URL`` to register and wait for the cluster.
* :mod:`~pycoreos.discovery.service`: :class:`DiscoveryService`, the ``/new`` + registry proxy
  in front of a backing etcd cluster.
* :mod:`~pycoreos.discovery.errors`: the errors, with etcd's texts.
"""

from pycoreos.discovery.client import DiscoveryClient
from pycoreos.discovery.errors import (
    BadDiscoveryEndpointError,
    BadSizeKeyError,
    DiscoveryError,
    DuplicateIdError,
    DuplicateNameError,
    FullClusterError,
    InvalidURLError,
    SizeNotFoundError,
    TooManyRetriesError,
)
from pycoreos.discovery.protocol import RegisteredNode, TokenURL, parse_token_url
from pycoreos.discovery.service import DiscoveryService, Route, RouteKind, route

__all__ = [
    "BadDiscoveryEndpointError",
    "BadSizeKeyError",
    "DiscoveryClient",
    "DiscoveryError",
    "DiscoveryService",
    "DuplicateIdError",
    "DuplicateNameError",
    "FullClusterError",
    "InvalidURLError",
    "RegisteredNode",
    "Route",
    "RouteKind",
    "SizeNotFoundError",
    "TokenURL",
    "TooManyRetriesError",
    "parse_token_url",
    "route",
]
