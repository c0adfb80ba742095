"""Account use cases: registration, login, refresh rotation, profile and roles."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from services.common.auth import Identity
from services.common.contracts.events import EventType, UserRegistered
from services.common.dapr import Sidecar
from services.common.errors import Conflict, InvalidInput, NotFound, Unauthorized
from services.common.revocation import Revoker
from services.users import links, repository
from services.users.outbox import OUTBOX
from services.users.schemas import (
    ProfileUpdate,
    SessionCreate,
    SessionRead,
    UserCreate,
    UserPage,
    UserRead,
    clean_name,
    normalise_email,
    valid_email,
)
from services.users.security.passwords import Passwords
from services.users.security.ratelimit import RateLimiter, subject_key
from services.users.security.tokens import TokenIssuer, new_refresh_token, refresh_digest
from services.users.settings import UsersSettings
from services.users.throttle import Limit, Throttle
from services.users.throttle import key as throttle_key

log = structlog.get_logger(__name__)

BAD_CREDENTIALS = "Invalid email or password"
BAD_LINK = "The link is invalid, expired or already used"


class UsersService:
    """One per process; built at start-up from the pool, the sidecar and the signing key."""

    def __init__(self, db: asyncpg.Pool, sidecar: Sidecar, issuer: TokenIssuer,
                 settings: UsersSettings, passwords: Passwords | None = None) -> None:
        self.db = db
        self.sidecar = sidecar
        self.issuer = issuer
        self.settings = settings
        self.passwords = passwords or Passwords()
        self.limiter = RateLimiter(sidecar, settings.rate_window_seconds)
        self.guesses = Throttle(db)
        self.revoker = Revoker(sidecar, settings.access_token_ttl_seconds)
        self.password_checks = Throttle(db, "failed password checks")
        self.resets = Throttle(db, "requests for a link")

    # -- sessions --------------------------------------------------------------------------
    async def _session(self, user: repository.UserRow, family_id: uuid.UUID | None = None,
                       conn: asyncpg.Connection | None = None) -> tuple[SessionRead, uuid.UUID]:
        token, digest = new_refresh_token()
        family = family_id or uuid.uuid4()
        token_id = await repository.insert_refresh_token(
            conn or self.db, digest=digest, family_id=family, user_id=user.id,
            ttl=timedelta(seconds=self.settings.refresh_token_ttl_seconds),
            chain_ttl=timedelta(seconds=self.settings.refresh_chain_max_seconds))
        if token_id is None:  # the chain reached its absolute lifetime: sign in again
            raise Unauthorized("The session has reached its maximum age; sign in again")
        access = self.issuer.issue(user.id, user.role, user.email, sid=family,
                                   email_verified=user.email_verified)
        return SessionRead(user=user.public(), token=access, refresh_token=token,
                       expires_in=self.issuer.ttl_seconds), token_id

    # -- registration ----------------------------------------------------------------------
    async def register(self, data: UserCreate, client_ip: str) -> SessionRead:
        email, name = valid_email(data.email), clean_name(data.name)
        s = self.settings
        for key, limit in ((subject_key("register", "ip", client_ip), s.registrations_per_ip),
                           (subject_key("register", "account", email),
                            s.registrations_per_account)):
            count, retry_after = await self.limiter.hit(key)
            if count > limit:
                raise RateLimiter.refuse(retry_after, "registration attempts")
        password_hash = await self.passwords.hash(data.password)
        async with self.db.acquire() as conn, conn.transaction():
            user = await repository.insert_user(conn, email, name, password_hash)
            if user is None:
                raise Conflict("An account with this email already exists",
                               errors=[{"field": "email", "message": "already registered"}])
            # The welcome e-mail carries the link that verifies the address.
            link = await links.create(conn, user, links.VERIFY, s.verify_link_ttl_seconds)
            await OUTBOX.add(conn, EventType.USER_REGISTERED, UserRegistered(
                user_id=user.id, email=user.email, name=user.name,
                occurred_at=datetime.now(UTC), link_id=link.link_id, verify_token=link.token,
                verify_expires_at=link.expires_at))
            session, _ = await self._session(user, conn=conn)
        log.info("user_registered", user_id=str(user.id))
        await OUTBOX.publish_committed(self.db, self.sidecar)
        return session

    # -- login -----------------------------------------------------------------------------
    async def login(self, data: SessionCreate, client_ip: str) -> SessionRead:
        email = normalise_email(data.email)
        s = self.settings
        # Every guess takes its slots before the password is checked (atomic, see
        # services/users/throttle.py); a right one gives them back.
        own = throttle_key("login:account-ip", email, client_ip)
        shared = [throttle_key("login:ip", client_ip), throttle_key("login:account", email)]
        await self.guesses.take([
            Limit(shared[0], s.login_failures_per_ip, s.rate_window_seconds),
            Limit(own, s.login_failures_per_account, s.rate_window_seconds),
            Limit(shared[1], s.login_failures_per_account_total, s.account_window_seconds)])
        user = await repository.get_by_email(self.db, email)
        # Unknown e-mail: verify against a dummy hash so both failures take the same time.
        ok = await self.passwords.verify(user.password_hash if user else None, data.password)
        if user is None or not ok:
            raise Unauthorized(BAD_CREDENTIALS)
        await self.guesses.forget([own])
        await self.guesses.give_back(shared)
        if self.passwords.needs_rehash(user.password_hash):
            new_hash = await self.passwords.hash(data.password)
            await repository.replace_password_hash(self.db, user.id, user.password_hash, new_hash)
        session, _ = await self._session(user)
        return session

    # -- refresh and logout ----------------------------------------------------------------
    async def refresh(self, refresh_token: str) -> SessionRead:
        digest = refresh_digest(refresh_token)
        async with self.db.acquire() as conn, conn.transaction():
            rotated = await repository.consume_refresh_token(conn, digest)
            if rotated is not None:
                session, successor = await self._session(rotated.user, rotated.family_id, conn)
                await repository.link_successor(conn, rotated.token_id, successor)
                return session
        known = await repository.refresh_token_state(self.db, digest)
        if known is not None and known[1] is not None:
            # A used token came back: it was stolen or replayed. End the whole chain.
            revoked = await repository.revoke_family(self.db, known[0])
            await self.revoker.end_session(known[0])
            log.warning("refresh_token_reuse", family_id=str(known[0]), revoked=revoked)
        raise Unauthorized("The refresh token is invalid, expired or revoked")

    async def logout(self, refresh_token: str) -> None:
        known = await repository.refresh_token_state(self.db, refresh_digest(refresh_token))
        if known is not None:
            await repository.revoke_family(self.db, known[0])
            await self.revoker.end_session(known[0])  # its access token stops too

    # -- profile ---------------------------------------------------------------------------
    async def get(self, user_id: uuid.UUID) -> UserRead:
        user = await repository.get_by_id(self.db, user_id)
        if user is None:
            raise NotFound("No such user")
        return user.public()

    async def update_profile(self, who: Identity, data: ProfileUpdate) -> UserRead:
        name = clean_name(data.name) if data.name is not None else None
        password_hash = None
        if data.password is not None:
            if data.current_password is None:
                raise InvalidInput("current_password: required to change the password", errors=[
                    {"field": "current_password", "message": "required to change the password"}])
            user = await repository.get_by_id(self.db, who.user_id, with_hash=True)
            if user is None:
                raise NotFound("No such user")
            checks = [throttle_key("password:account", str(user.id))]
            await self.password_checks.take([Limit(
                checks[0], self.settings.login_failures_per_account,
                self.settings.rate_window_seconds)])
            if not await self.passwords.verify(user.password_hash, data.current_password):
                raise InvalidInput("current_password: incorrect", errors=[
                    {"field": "current_password", "message": "incorrect"}])
            await self.password_checks.forget(checks)
            password_hash = await self.passwords.hash(data.password)
        async with self.db.acquire() as conn, conn.transaction():
            updated = await repository.update_profile(conn, who.user_id, name=name,
                                                      password_hash=password_hash)
            if updated is None:
                raise NotFound("No such user")
            if password_hash is not None:
                # Every other session ends with a password change.
                await repository.revoke_user_tokens(conn, who.user_id)
        if password_hash is not None:
            await self.revoker.end_all(who.user_id)  # and so do their access tokens
        return updated.public()

    # -- e-mail verification and password reset (services/users/links.py) -----------------
    async def verify_email(self, token: str) -> UserRead:
        async with self.db.acquire() as conn, conn.transaction():
            user_id = await repository.use_link(conn, links.digest(token), links.VERIFY)
            user = await repository.mark_verified(conn, user_id) if user_id else None
        if user is None:
            raise InvalidInput(BAD_LINK, errors=[{"field": "token", "message": BAD_LINK}])
        log.info("email_verified", user_id=str(user.id))
        return user.public()

    async def resend_verification(self, who: Identity) -> None:
        user = await repository.get_by_id(self.db, who.user_id)
        if user is None:
            raise NotFound("No such user")
        if user.email_verified:
            raise Conflict("The e-mail address is already verified")
        await self.password_checks.take([Limit(
            throttle_key("verify:account", str(user.id)), self.settings.password_resets_per_account,
            self.settings.rate_window_seconds)])
        async with self.db.acquire() as conn, conn.transaction():
            await links.issue(conn, user, links.VERIFY, self.settings.verify_link_ttl_seconds)
        await OUTBOX.publish_committed(self.db, self.sidecar)

    async def request_password_reset(self, email: str, client_ip: str) -> None:
        """The same answer whether or not the address has an account; the limits count
        unknown addresses too. The e-mail goes out after the answer (a background task),
        so its time does not tell either."""
        s = self.settings
        email = valid_email(email)  # a malformed address is a 422, known or not
        await self.resets.take([
            Limit(throttle_key("reset:ip", client_ip), s.password_resets_per_ip,
                  s.rate_window_seconds),
            Limit(throttle_key("reset:account", email), s.password_resets_per_account,
                  s.rate_window_seconds)])

    async def send_password_reset(self, email: str) -> None:
        user = await repository.get_by_email(self.db, normalise_email(email))
        if user is None:
            return
        async with self.db.acquire() as conn, conn.transaction():
            await links.issue(conn, user, links.RESET, self.settings.reset_link_ttl_seconds)
        await OUTBOX.publish_committed(self.db, self.sidecar)
        log.info("password_reset_requested", user_id=str(user.id))

    async def reset_password(self, token: str, password: str) -> None:
        """Set the password from a reset link; every session of the account ends."""
        password_hash = await self.passwords.hash(password)
        async with self.db.acquire() as conn, conn.transaction():
            user_id = await repository.use_link(conn, links.digest(token), links.RESET)
            if user_id is None:
                raise InvalidInput(BAD_LINK, errors=[{"field": "token", "message": BAD_LINK}])
            await repository.set_password(conn, user_id, password_hash)
            await repository.retire_links(conn, user_id, links.RESET)
            await repository.revoke_user_tokens(conn, user_id)
        await self.revoker.end_all(user_id)
        log.info("password_reset", user_id=str(user_id))

    # -- administration --------------------------------------------------------------------
    async def list_users(self, page: int, page_size: int, search: str | None = None,
                         role: str | None = None) -> UserPage:
        if search is not None and "\x00" in search:
            raise InvalidInput("search: must not contain NUL characters", errors=[
                {"field": "search", "message": "must not contain NUL characters"}])
        items, total = await repository.list_users(
            self.db, limit=page_size, offset=(page - 1) * page_size,
            search=search.strip() or None if search else None, role=role)
        return UserPage(items=items, total=total, page=page, page_size=page_size)

    async def set_role(self, who: Identity, user_id: uuid.UUID, role: str) -> UserRead:
        if user_id == who.user_id and role != who.role:
            raise Conflict("Admins cannot change their own role")
        user = await repository.set_role(self.db, user_id, role)
        if user is None:
            raise NotFound("No such user")
        # Tokens still carrying the old role stop; a refresh issues one with the new role.
        await self.revoker.end_all(user_id)
        log.info("role_changed", user_id=str(user_id), role=role, by=str(who.user_id))
        return user.public()

    # -- start-up --------------------------------------------------------------------------
    async def ensure_admin(self, email: str, password: str) -> None:
        """Create the first admin from the secret store; later starts leave it as it is."""
        email = valid_email(email)
        if await repository.ensure_admin(self.db, email):
            return
        password_hash = await self.passwords.hash(password)
        created = await repository.insert_user(self.db, email, "Administrator", password_hash,
                                               role="admin")
        if created is None:  # another replica won the race; make sure of the role
            await repository.ensure_admin(self.db, email)
        else:
            log.info("admin_created", user_id=str(created.id))
