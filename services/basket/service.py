"""The basket operations: a guest's or a signed-in shopper's basket in the state store, priced
by the catalog when read, merged at login and checked out into an order.

Checkout with key K, and why a crash never makes two orders for K nor blocks a later one:
1. the basket remembers its last finished checkouts: if K is one, answer its order (200);
2. otherwise save `pending = (K, the lines)` into the basket (ETag-guarded), unless a
   pending K is already there (a retry, or a concurrent request with K): its lines are the
   ones ordered, whatever the basket holds now;
3. ask orders for the order with Idempotency-Key `order_key(user, K)`: the first call makes
   it (201), every later one gets the same order back (200), so a retry after a crash
   anywhere past step 2 finds the order instead of making a second; a refusal (4xx: orders
   made no order) drops the pending K, so a corrected retry orders what the basket holds;
4. settle: take the ordered lines out of the basket, drop the pending K and remember K.
A checkout with another key ignores (and replaces) a pending K, so a crash never leaves the
shopper unable to check out.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from services.basket import model, orders
from services.basket.catalog import Catalog
from services.basket.schemas import (
    BasketDoc,
    BasketRead,
    CheckoutRequest,
    GuestCreated,
    Kind,
    PendingCheckout,
    StoredLine,
)
from services.basket.settings import BasketSettings
from services.basket.store import BasketStore, Change
from services.common.auth import Identity
from services.common.contracts.errors import ErrorCode
from services.common.contracts.internal import ProductBatchItem
from services.common.contracts.orders import OrderRead
from services.common.dapr import Sidecar
from services.common.errors import Conflict, NotFound
from services.common.internal import CodedError


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose basket a request acts on: the verified user's, or the guest basket of a token."""

    kind: Kind
    key: str
    identity: Identity | None = None

    @classmethod
    def user(cls, identity: Identity) -> Owner:
        return cls("user", user_key(identity.user_id), identity)

    @classmethod
    def guest(cls, token: str) -> Owner:
        return cls("guest", guest_key(token))


def guest_id(token: str) -> str:
    """The stored name of a guest basket: a digest, so the store never holds the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def guest_key(token: str) -> str:
    return f"guest:{guest_id(token)}"


def user_key(user_id: uuid.UUID) -> str:
    return f"user:{user_id}"


def _now() -> datetime:
    return datetime.now(UTC)


class NoSuchBasket(NotFound):
    def __init__(self) -> None:
        super().__init__("No basket for this X-Basket-Token (unknown, merged or expired); "
                         "POST /api/basket/guest makes a new one")


class Baskets:
    def __init__(self, store: BasketStore, catalog: Catalog, sidecar: Sidecar,
                 settings: BasketSettings) -> None:
        self.store = store
        self.catalog = catalog
        self.sidecar = sidecar
        self.settings = settings

    def _ttl(self, owner: Owner) -> int:
        return (self.settings.guest_ttl_seconds if owner.kind == "guest"
                else self.settings.user_ttl_seconds)

    async def _priced(self, owner: Owner, doc: BasketDoc | None,
                      version: bytes | None) -> BasketRead:
        ids = [line.product_id for line in doc.lines] if doc else []
        found = await self.catalog.lookup(ids, version) if ids else {}
        ttl = self.settings.guest_ttl if owner.kind == "guest" else self.settings.user_ttl
        return model.view(owner.kind, doc, found, ttl)

    # -- reading and changing -----------------------------------------------------------------
    async def create_guest(self) -> GuestCreated:
        token = secrets.token_urlsafe(32)
        owner = Owner.guest(token)
        doc = BasketDoc(updated_at=_now())
        if not await self.store.create(owner.key, doc, self._ttl(owner)):
            raise Conflict("A basket with this token exists already; try again")
        return GuestCreated(token=token, expires_in=self._ttl(owner),
                            basket=model.view("guest", doc, {}, self.settings.guest_ttl))

    async def read(self, owner: Owner) -> BasketRead:
        (doc, _), version = await asyncio.gather(self.store.read(owner.key),
                                                 self.catalog.version())
        if doc is None and owner.kind == "guest":
            raise NoSuchBasket()
        return await self._priced(owner, doc, version)

    async def _product(self, product_id: uuid.UUID, version: bytes | None) -> ProductBatchItem:
        item = (await self.catalog.lookup([product_id], version)).get(product_id)
        if item is None:
            raise NotFound(f"No product with id {product_id}")
        if not item.active:
            raise CodedError(409, ErrorCode.PRODUCT_UNAVAILABLE,
                             f"Product {product_id} is no longer sold")
        return item

    async def _change(self, owner: Owner, version: bytes | None,
                      apply: model.Apply) -> BasketRead:
        def change(doc: BasketDoc | None) -> BasketDoc | None:
            if doc is None and owner.kind == "guest":
                raise NoSuchBasket()
            doc = doc or BasketDoc()
            if not apply(doc):
                return None
            doc.updated_at = _now()
            return doc

        saved = await self.store.update(owner.key, change, self._ttl(owner))
        return await self._priced(owner, saved, version)

    async def set_line(self, owner: Owner, product_id: uuid.UUID, quantity: int) -> BasketRead:
        version = await self.catalog.version()
        price = (await self._product(product_id, version)).price if quantity > 0 else None
        return await self._change(owner, version, lambda doc: model.set_line(
            doc, product_id, quantity, price))

    async def add(self, owner: Owner, product_id: uuid.UUID, quantity: int) -> BasketRead:
        version = await self.catalog.version()
        price = (await self._product(product_id, version)).price
        return await self._change(owner, version, lambda doc: model.add_units(
            doc, product_id, quantity, price))

    async def remove(self, owner: Owner, product_id: uuid.UUID) -> BasketRead:
        version = await self.catalog.version()
        return await self._change(owner, version,
                                  lambda doc: model.set_line(doc, product_id, 0, None))

    async def clear(self, owner: Owner) -> BasketRead:
        return await self._change(owner, None, model.clear)

    async def merge(self, identity: Identity, token: str) -> BasketRead:
        """Fold the guest basket of `token` into the shopper's and delete it. Merging again
        (or an unknown token) changes nothing: the guest basket is gone, and the shopper's
        basket remembers which guest baskets it took in, should the delete have failed."""
        owner = Owner.user(identity)
        gid = guest_id(token)
        (guest, _), version = await asyncio.gather(self.store.read(guest_key(token)),
                                                   self.catalog.version())
        if guest is None:
            return await self.read(owner)
        read = await self._change(owner, version, lambda doc: model.merge(doc, guest, gid))
        await self.store.delete(guest_key(token))
        return read

    # -- checkout -----------------------------------------------------------------------------
    async def checkout(self, identity: Identity, body: CheckoutRequest,
                       key: str) -> tuple[OrderRead, bool]:
        """(the order, whether this request created it). See the module docstring."""
        owner = Owner.user(identity)
        doc, _ = await self.store.read(owner.key)
        if (done := model.checkout_of(doc, key)) is not None:
            return await orders.read(self.sidecar, identity, done.order_id), False
        if doc is None or doc.pending is None or doc.pending.key != key:
            await self._check_orderable(doc)
            doc = await self.store.update(owner.key, _start(key), self._ttl(owner))
            if (done := model.checkout_of(doc, key)) is not None:
                return await orders.read(self.sidecar, identity, done.order_id), False
        if doc is None or doc.pending is None or doc.pending.key != key:  # _start saw to it
            raise RuntimeError(f"checkout {key!r} has no pending lines")
        ordered = doc.pending.lines
        try:
            order, created = await orders.place(self.sidecar, identity, ordered, body,
                                                model.order_key(identity.user_id, key))
        except orders.OrdersRefused:
            # A refusal made no order (an order this key made before would have come back,
            # or, asked with other lines, been refused again): the next attempt with this
            # key may order what the basket holds then.
            await self.store.update(owner.key, _forget(key), self._ttl(owner))
            raise

        def settle(current: BasketDoc | None) -> BasketDoc | None:
            if current is None or model.checkout_of(current, key) is not None:
                return None
            model.settle(current, key, order.id, ordered)
            current.updated_at = _now()
            return current

        await self.store.update(owner.key, settle, self._ttl(owner))
        return order, created

    async def _check_orderable(self, doc: BasketDoc | None) -> None:
        if doc is None or not doc.lines:
            raise EmptyBasket()
        found = await self.catalog.lookup([ln.product_id for ln in doc.lines],
                                          await self.catalog.version())
        gone = model.unavailable(doc.lines, found)
        if gone:
            raise CodedError(409, ErrorCode.UNAVAILABLE_ITEMS,
                             f"{len(gone)} product(s) in the basket are no longer sold; "
                             "remove them to check out", unavailable=[str(g) for g in gone])


class EmptyBasket(CodedError):
    def __init__(self) -> None:
        super().__init__(409, ErrorCode.BASKET_EMPTY, "The basket is empty")


def _start(key: str) -> Change:
    def start(doc: BasketDoc | None) -> BasketDoc | None:
        if doc is not None and (model.checkout_of(doc, key) is not None
                                or (doc.pending is not None and doc.pending.key == key)):
            return None  # a concurrent request with this key got here first
        if doc is None or not doc.lines:
            raise EmptyBasket()
        doc.pending = PendingCheckout(key=key, lines=[
            StoredLine(product_id=ln.product_id, quantity=ln.quantity, price=ln.price)
            for ln in doc.lines])
        return doc

    return start


def _forget(key: str) -> Change:
    def forget(doc: BasketDoc | None) -> BasketDoc | None:
        if doc is None or doc.pending is None or doc.pending.key != key:
            return None
        doc.pending = None
        return doc

    return forget
