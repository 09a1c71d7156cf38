"""Where a request comes from, as throttles and rate limits count it.

The peer address is the ASGI scope's `client`; behind the proxies listed in TRUSTED_PROXIES, uvicorn's
`ProxyHeadersMiddleware` (added by the app factory) has already replaced it with the address those proxies
were reached from (the right-most untrusted `X-Forwarded-For` entry). From anyone else the header is not
believed: a client cannot pick its own address.
"""

from __future__ import annotations

import ipaddress
from typing import Any

__all__ = ["client_address"]


def client_address(request: Any) -> str:
    """An IPv4 address, or an IPv6 /64 (one subscriber's block, which a client can hop within at will);
    the raw host when it is not an address, "unknown" without one."""
    client = getattr(request, "client", None)
    host = str(client.host) if client is not None and client.host else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
