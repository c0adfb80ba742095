"""The client's address: the peer, or what a trusted proxy in front of the gateway says.

`X-Forwarded-For` is believed only when the connecting peer is in FORWARDED_ALLOW_IPS
(addresses or CIDR ranges, comma-separated): then the client is the right-most address of
the header that is not itself a trusted proxy (every proxy appends the address it saw, so
what lies to the left of the first untrusted hop is whatever the client chose to send).
Nothing is trusted by default: a client that can reach the gateway directly cannot pick its
own address, so rate limits and login throttles count what it really is. Compose trusts its
nginx (a fixed address), Helm the ingress controller's range (`gatewayTrustedProxies`).

Uvicorn's own proxy-header handling is off for every app (services.common.runner), so this
is the one place that reads the header; it rewrites `scope["client"]` before anything else.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.types import ASGIApp, Receive, Scope, Send

from services.common.settings import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ENV = "FORWARDED_ALLOW_IPS"


def parse_trusted(spec: str) -> tuple[Network, ...]:
    """`10.0.0.5, 10.42.0.0/16, fd00::/8` -> networks; '' -> none. `*` is refused: trusting
    every peer would let any client choose its address."""
    nets: list[Network] = []
    for item in (p.strip() for p in spec.split(",")):
        if not item:
            continue
        if item == "*":
            raise ConfigError(f"{ENV}: '*' would trust every client's X-Forwarded-For; "
                              "name the proxies' addresses or ranges")
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{ENV}: {item!r} is not an address or CIDR range") from None
    return tuple(nets)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("["):  # [v6]:port
        value = value[1:value.find("]")] if "]" in value else value
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
             nets: tuple[Network, ...]) -> bool:
    return ip is not None and any(ip in net for net in nets)


def client_address(peer: str | None, forwarded_for: list[str],
                   trusted: tuple[Network, ...]) -> str | None:
    """The client's address for a request from `peer` carrying these X-Forwarded-For values."""
    if not trusted or peer is None or not _trusted(_ip(peer), trusted):
        return peer
    hops = [h.strip() for v in forwarded_for for h in v.split(",") if h.strip()]
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            return peer  # a malformed hop: do not guess, count the proxy that sent it
        if not _trusted(ip, trusted):
            return str(ip)
    return str(_ip(hops[0])) if hops else peer  # every hop a proxy: the left-most


class ClientAddress:
    """ASGI wrapper: sets `scope["client"]` to the client's address as defined above."""

    def __init__(self, app: ASGIApp, trusted: tuple[Network, ...]) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted:  # type: ignore[comparison-overlap]
            client: Any = scope.get("client")
            peer = client[0] if client else None
            values = [v.decode("latin-1") for k, v in scope["headers"]
                      if k == b"x-forwarded-for"]
            if values:
                address = client_address(peer, values, self.trusted)
                if address is not None and address != peer:
                    scope["client"] = (address, 0)
            # A trusted proxy that terminated TLS says so: the storefront's session cookie
            # is then Secure (services/gateway/web.py passes the scheme on).
            if _trusted(_ip(peer) if peer else None, self.trusted):
                proto = next((v for k, v in scope["headers"] if k == b"x-forwarded-proto"), b"")
                if proto in (b"http", b"https"):
                    scope["scheme"] = proto.decode()
        await self.app(scope, receive, send)
