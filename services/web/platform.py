"""The platform's public API as the shopper sees it, and the shopper of one request.

web holds no more privilege than the shopper: every call goes to the `gateway` app through
this app's own sidecar (`/v1.0/invoke/gateway/method/api/...`), with the shopper's bearer
token, so the gateway's authentication, rate limits and validation apply as they would to
any client. The shopper's address goes along in `x-client-ip` (the gateway believes it
only from the web app's calls through its sidecar), so rate limits stay per shopper.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Mapping
from typing import Any

import msgspec
import structlog
from litestar import Request

from services.common.dapr import Sidecar
from services.common.errors import DomainError
from services.common.names import GATEWAY, HEADER_BASKET_TOKEN, HEADER_CLIENT_IP
from services.web.sessions import SessionData, SessionStore, User, expires_at, new_id

log = structlog.get_logger(__name__)

# Refresh the access token this long before it expires.
REFRESH_MARGIN = 30.0


class ApiError(Exception):
    """A 4xx answer of the API: the page explains it (form errors, a conflict, ...)."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        self.title = str(self.body.get("title") or "Error")
        self.detail = str(self.body.get("detail") or "")
        super().__init__(f"{status} {self.title}: {self.detail}")

    @property
    def field_errors(self) -> dict[str, str]:
        """`{field: message}` from the problem's `errors` (last path element of `field`)."""
        out: dict[str, str] = {}
        for err in self.body.get("errors") or []:
            if isinstance(err, dict):
                field = str(err.get("field") or "").rsplit(".", 1)[-1].strip("$.[]")
                out.setdefault(field or "form", str(err.get("message") or "is not valid"))
        return out


class PageNotFound(Exception):
    """Show the 404 page."""


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limited for {retry_after}s")


class Degraded(Exception):
    """A part of the platform is down: say so instead of failing."""


class LoginRequired(Exception):
    def __init__(self, next_path: str = "/") -> None:
        self.next_path = next_path
        super().__init__(next_path)


class Platform:
    """Calls to the public API through this app's sidecar."""

    def __init__(self, sidecar: Sidecar, client_ip: str) -> None:
        self.sidecar = sidecar
        self.client_ip = client_ip

    async def call(self, method: str, path: str, *, token: str | None = None,
                   json: Any = None, params: Mapping[str, str] | None = None,
                   headers: Mapping[str, str] | None = None) -> Any:
        """The decoded JSON answer of a 2xx; raises ApiError (4xx), RateLimited, Degraded."""
        hdrs = {HEADER_CLIENT_IP: self.client_ip, "accept": "application/json",
                **(headers or {})}
        if token:
            hdrs["authorization"] = f"Bearer {token}"
        try:
            r = await self.sidecar.invoke(GATEWAY, method, path.lstrip("/"), params=params,
                                          json=json, headers=hdrs, timeout=15.0)
        except DomainError as exc:  # the sidecar or the gateway cannot be reached
            raise Degraded(exc.detail) from exc
        body: Any = None
        if r.content:
            try:
                body = msgspec.json.decode(r.content)
            except msgspec.DecodeError:
                body = None
        if r.status_code == 429:
            raise RateLimited(_int(r.headers.get("retry-after"), 30))
        if r.status_code >= 500:
            # The body says which hop failed: the gateway's problem+json, or a sidecar's
            # own error (ERR_DIRECT_INVOKE and its reason) when the gateway never answered.
            log.warning("api_unavailable", path=path, status=r.status_code,
                        body=r.text[:300])
            raise Degraded(str((body or {}).get("detail") or f"{path} answered "
                               f"{r.status_code}") if isinstance(body, dict) else path)
        if r.status_code >= 400:
            raise ApiError(r.status_code, body)
        return body


def _int(raw: str | None, default: int) -> int:
    try:
        return max(1, int(raw or default))
    except ValueError:
        return default


# One refresh at a time per session in this process: a refresh token is single use, and
# presenting a used one revokes the whole chain (two tabs polling at once must not log the
# shopper out).
_REFRESH_LOCKS: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


class Shopper:
    """The person behind one request: their session and their calls to the API.

    The session is loaded on first use and saved by the session middleware just before the
    response starts (services/web/middleware.py), so a redirect's next page sees it.
    """

    def __init__(self, request: Request[Any, Any, Any], store: SessionStore,
                 platform: Platform) -> None:
        self.request = request
        self.store = store
        self.platform = platform
        self._cookie: dict[str, Any] = request.scope["state"]["shop"]
        self._data: SessionData | None = None
        self.dirty = False

    # -- the session ------------------------------------------------------------------------
    @property
    def session_id(self) -> str:
        sid: str = self._cookie["sid"]
        return sid

    @property
    def csrf(self) -> str:
        from services.web.sessions import csrf_token

        return csrf_token(self.session_id)

    async def data(self) -> SessionData:
        if self._data is None:
            loaded = None if self._cookie["new"] else await self.store.load(self.session_id)
            self._data = loaded or SessionData()
        return self._data

    async def user(self) -> User | None:
        return (await self.data()).user

    async def flash(self, kind: str, message: str) -> None:
        (await self.data()).flash.append((kind, message))
        self.dirty = True

    async def pop_flash(self) -> list[tuple[str, str]]:
        data = await self.data()
        out, data.flash = data.flash, []
        if out:
            self.dirty = True
        return out

    async def save(self) -> None:
        """Write the session if it changed (called by the middleware)."""
        if self._data is None or not self.dirty:
            return
        if self._data.empty and self._cookie["new"]:
            return
        if self._data.empty:
            await self.store.delete(self.session_id)
        else:
            await self.store.save(self.session_id, self._data)
        self.dirty = False

    def _rotate(self) -> None:
        """A new session id (at login and logout: no fixation of an id set before)."""
        self._cookie.update(sid=new_id(), new=True, set=True)

    async def sign_in(self, answer: Mapping[str, Any]) -> str | None:
        """Store the tokens of a login or registration answer under a new session id.
        Returns the guest basket token to merge, if there was one."""
        old = await self.data()
        if not self._cookie["new"]:
            await self.store.delete(self.session_id)
        self._rotate()
        u = answer["user"]
        self._data = SessionData(
            user=User(id=str(u["id"]), email=str(u["email"]), name=str(u.get("name") or ""),
                      role=str(u.get("role") or "customer")),
            access_token=str(answer["token"]), refresh_token=answer.get("refresh_token"),
            access_expires=expires_at(answer.get("expires_in")), flash=old.flash)
        self.dirty = True
        return old.basket_token

    async def sign_out(self) -> None:
        data = await self.data()
        if data.refresh_token:
            # The session goes anyway; an unrevoked refresh token dies with its TTL.
            with contextlib.suppress(ApiError, Degraded, RateLimited):
                await self.platform.call("POST", "/api/users/logout",
                                         json={"refresh_token": data.refresh_token})
        if not self._cookie["new"]:
            await self.store.delete(self.session_id)
        self._rotate()
        self._data = SessionData()
        self.dirty = True

    # -- calls as the shopper -----------------------------------------------------------------
    async def token(self) -> str | None:
        """A valid access token, refreshed transparently when it is about to expire."""
        data = await self.data()
        if data.user is None or data.access_token is None:
            return None
        if data.access_expires - REFRESH_MARGIN > time.time():
            return data.access_token
        return await self._refresh(data.access_token)

    async def _refresh(self, stale: str) -> str | None:
        lock = _REFRESH_LOCKS.get(self.session_id)
        if lock is None:
            lock = _REFRESH_LOCKS[self.session_id] = asyncio.Lock()
        async with lock:
            # Another request of this session may have refreshed while this one waited.
            current = await self.store.load(self.session_id) or await self.data()
            if (current.access_token and current.access_token != stale
                    and current.access_expires - REFRESH_MARGIN > time.time()):
                self._data = current
                return current.access_token
            if not current.refresh_token:
                await self._forget()
                return None
            try:
                answer = await self.platform.call(
                    "POST", "/api/users/refresh", json={"refresh_token": current.refresh_token})
            except ApiError:
                await self._forget()
                return None
            current.access_token = str(answer["token"])
            current.refresh_token = answer.get("refresh_token") or current.refresh_token
            current.access_expires = expires_at(answer.get("expires_in"))
            self._data = current
            await self.store.save(self.session_id, current)  # now: other requests wait on it
            return current.access_token

    async def _forget(self) -> None:
        """The tokens are no longer valid: the shopper is signed out."""
        data = await self.data()
        data.user, data.access_token, data.refresh_token = None, None, None
        data.flash.append(("info", "Your session has ended. Please sign in again."))
        self.dirty = True

    async def api(self, method: str, path: str, *, auth: bool = True, json: Any = None,
                  params: Mapping[str, str] | None = None,
                  headers: Mapping[str, str] | None = None) -> Any:
        """Call the API as this shopper; with `auth`, a signed-out shopper must sign in."""
        token = await self.token() if auth else None
        if auth and token is None:
            raise LoginRequired(self.request.url.path)
        try:
            return await self.platform.call(method, path, token=token, json=json,
                                            params=params, headers=headers)
        except ApiError as exc:
            if exc.status != 401 or token is None:
                raise
        # The token was refused (revoked, or a key rotation): refresh once and retry.
        token = await self._refresh(token)
        if token is None:
            raise LoginRequired(self.request.url.path)
        return await self.platform.call(method, path, token=token, json=json, params=params,
                                        headers=headers)

    # -- the basket: the signed-in shopper's, or a guest basket by its token --------------------
    async def basket_call(self, method: str, path: str, *, json: Any = None,
                          headers: Mapping[str, str] | None = None,
                          create: bool = False) -> Any:
        data = await self.data()
        if data.user is not None:
            return await self.api(method, path, json=json, headers=headers)
        if data.basket_token is None:
            if not create:
                return None
            answer = await self.platform.call("POST", "/api/basket/guest")
            data.basket_token = str(answer["token"])
            self.dirty = True
        hdrs = {HEADER_BASKET_TOKEN: data.basket_token, **(headers or {})}
        try:
            return await self.platform.call(method, path, json=json, headers=hdrs)
        except ApiError as exc:
            if exc.status not in (401, 404) or not create:
                raise
        # The guest basket expired: start a new one.
        data.basket_token = None
        return await self.basket_call(method, path, json=json, headers=headers, create=True)
