"""HTTP routes of the basket service, public under /api/basket (reached through the gateway).

Whose basket: a request with a verified identity (the gateway's x-user-* headers, from a
bearer token) acts on the shopper's basket; otherwise the `X-Basket-Token` of
`POST /api/basket/guest` names a guest basket. Neither is a 401; a token that names no
basket (never issued, merged or expired) is a 404, like every basket one cannot see.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, post, put
from litestar.datastructures import CacheControlHeader, State
from litestar.di import Provide
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from services.basket.orders import OrdersRefused
from services.basket.schemas import (
    TOKEN_PATTERN,
    BasketRead,
    CheckoutRequest,
    GuestCreated,
    LineAdd,
    LineSet,
    MergeRequest,
)
from services.basket.service import Baskets, Owner
from services.common.auth import Identity, identity_from_headers, provide_identity
from services.common.contracts.orders import OrderRead
from services.common.errors import PROBLEM_JSON, NotFound, Unauthorized
from services.common.internal import CODED_ERROR_HANDLERS
from services.common.names import HEADER_BASKET_TOKEN
from services.common.openapi import link

BasketToken = Annotated[
    str | None,
    Parameter(header=HEADER_BASKET_TOKEN, required=False, pattern=TOKEN_PATTERN,
              description="A guest basket's token (POST /api/basket/guest); ignored when a "
                          "bearer token is sent"),
]
# A product in a path: a uuid (anything else is a 404, like a product not sold).
ProductId = Annotated[str, Parameter(schema_extra={"format": "uuid"},
                                     description="The product's id (a uuid)")]
IdempotencyKey = Annotated[
    str,
    Parameter(header="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
              description="One checkout: a retry with the same key returns the same order."),
]
# The 409s of a change: a limit (basket_full, line_limit, items_limit), a product no longer
# sold (product_unavailable), or too many concurrent changes (basket_busy).
LIMITS = "A basket limit, a product no longer sold, or too many concurrent changes"


def provide_baskets(state: State) -> Baskets:
    baskets: Baskets = state.baskets
    return baskets


async def provide_owner(request: Request[Any, Any, Any], basket_token: BasketToken = None,
                        ) -> Owner:
    identity = identity_from_headers(request.headers)
    if identity is not None:
        return Owner.user(identity)
    if basket_token is None:
        raise Unauthorized("Sign in (bearer token) or send the X-Basket-Token of "
                           "POST /api/basket/guest")
    return Owner.guest(basket_token)


def _product_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"No product with id {raw!r}") from None


@post("/guest", status_code=201, links={
    "GetBasket": link("GET", "/api/basket", "Read it",
                      **{"header.x-basket-token": "$response.body#/token"})})
async def create_guest(baskets: Baskets) -> GuestCreated:
    """A new, empty guest basket and its token (256 random bits): send the token back in
    `X-Basket-Token`. It lives 7 days after its last change."""
    return await baskets.create_guest()


@get("/")
async def read_basket(baskets: Baskets, owner: Owner) -> BasketRead:
    """The basket, priced by the catalog now: each line's name, unit price, line total and
    availability (`in_stock`, `fewer_than_asked`, `unavailable`), and whether the price
    changed since the line was last set."""
    return await baskets.read(owner)


@delete("/", status_code=200)
async def clear_basket(baskets: Baskets, owner: Owner) -> BasketRead:
    """Empty the basket."""
    return await baskets.clear(owner)


@put("/items/{product_id:str}", conflict=LIMITS, links={
    "GetBasket": link("GET", "/api/basket", "Read the basket"),
    "RemoveLine": link("DELETE", "/api/basket/items/{product_id}", "Take the line out",
                       product_id="$request.path.product_id")})
async def set_line(baskets: Baskets, owner: Owner, product_id: ProductId,
                   data: LineSet) -> BasketRead:
    """Set a line's quantity (0 removes it). 404 for an unknown product, 409 for one no
    longer sold or past a limit (99 per line, 50 lines, 500 units)."""
    return await baskets.set_line(owner, _product_id(product_id), data.quantity)


@post("/items/{product_id:str}/add", status_code=200, conflict=LIMITS)
async def add_units(baskets: Baskets, owner: Owner, product_id: ProductId,
                    data: LineAdd) -> BasketRead:
    """Add units to a line (atomic: concurrent adds all count). Body `{"quantity": n}`,
    1 by default (`{}`)."""
    return await baskets.add(owner, _product_id(product_id), data.quantity)


@delete("/items/{product_id:str}", status_code=200, conflict=LIMITS)
async def remove_line(baskets: Baskets, owner: Owner, product_id: ProductId) -> BasketRead:
    """Remove a line (removing a line that is not there changes nothing)."""
    return await baskets.remove(owner, _product_id(product_id))


@post("/merge", status_code=200, dependencies={"identity": Provide(provide_identity)},
      conflict=LIMITS)
async def merge(baskets: Baskets, identity: Identity, data: MergeRequest) -> BasketRead:
    """At login: fold the guest basket of `guest_token` into the caller's (quantities
    added, limits applied) and delete it. Merging again changes nothing."""
    return await baskets.merge(identity, data.guest_token)


@post("/checkout", status_code=201, dependencies={"identity": Provide(provide_identity)},
      conflict="The basket is empty, holds products no longer sold, or the key was used "
               "with another request",
      responses={200: ResponseSpec(OrderRead, description="The order this key made before")})
async def checkout(baskets: Baskets, identity: Identity, data: CheckoutRequest,
                   idempotency_key: IdempotencyKey) -> Response[OrderRead]:
    """Order the basket's lines (through the orders service, priced by the catalog): 201
    with the order (status `pending`), then the basket no longer holds them. A retry with
    the same Idempotency-Key returns the same order (200), never a second one."""
    order, created = await baskets.checkout(identity, data, idempotency_key)
    return Response(order, status_code=201 if created else 200,
                    headers={"location": f"/api/orders/{order.id}"})


def orders_refused(request: Request[Any, Any, Any], exc: OrdersRefused) -> Response[bytes]:
    """orders' own answer (its validation of the order) goes back as it is."""
    return Response(exc.body, status_code=exc.status, media_type=PROBLEM_JSON)


ROUTES: list[Any] = [
    Router(path="/api/basket",
           route_handlers=[create_guest, read_basket, clear_basket, set_line, add_units,
                           remove_line, merge, checkout],
           dependencies={"baskets": Provide(provide_baskets, sync_to_thread=False),
                         "owner": Provide(provide_owner)},
           exception_handlers={**CODED_ERROR_HANDLERS, OrdersRefused: orders_refused},
           tags=["basket"],
           cache_control=CacheControlHeader(no_store=True)),
]
