"""The web app's outermost layer: the session cookie, the save of a changed session before
the response starts, and the security headers of every answer.

The gateway forwards the browser's request through Dapr and says what the browser used:
`x-forwarded-proto` (https -> the cookie is Secure), `x-forwarded-host` (the origin that a
form post must come from) and `x-client-ip`. Only the gateway can call this app (its
sidecar's APP_API_TOKEN guard), so those headers are the gateway's, not a client's.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from services.web.sessions import COOKIE, new_id, valid_id

log = structlog.get_logger(__name__)

# No inline script or style, nothing from another origin; pictures are ours too.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; object-src 'none'")
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return v.decode("latin-1")
    return None


def is_https(scope: Scope) -> bool:
    return (header(scope, b"x-forwarded-proto") or scope.get("scheme", "http")) == "https"


def session_cookie(sid: str, secure: bool) -> bytes:
    value = f"{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax; Max-Age={14 * 24 * 3600}"
    if secure:
        value += "; Secure"
    return value.encode()


class SessionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        sid = None
        raw = header(scope, b"cookie")
        if raw:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(raw)
            except Exception:  # a malformed Cookie header is just no cookie
                jar = SimpleCookie()
            if COOKIE in jar and valid_id(jar[COOKIE].value):
                sid = jar[COOKIE].value
        shop: dict[str, Any] = {"sid": sid or new_id(), "new": sid is None, "set": sid is None}
        scope.setdefault("state", {})["shop"] = shop
        static = scope["path"].startswith(("/static/", "/media/"))

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                shopper = shop.get("shopper")
                if shopper is not None:
                    try:
                        await shopper.save()
                    except Exception:
                        log.exception("session_save_failed")
                headers = list(message.get("headers") or ())
                present = {k.lower() for k, _ in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", CSP.encode()))
                if shop["set"] and not static:
                    headers.append((b"set-cookie", session_cookie(shop["sid"], is_https(scope))))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)
