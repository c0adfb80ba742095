"""What the order workflow and its activities pass each other, typed once for both sides.

The SDK carries inputs and results as JSON, so each side converts at the edge: the
orchestrator sends `encode(x)` and reads `decode(result, T)`; an activity is registered
through its `Activity` definition, which decodes its input and encodes its result. An
`Activity[In, Out]` names the activity and both types, so a change to either is a type
error in the orchestrator and in the activity alike. Keep the JSON shapes: the histories
of orders in flight hold them and replay them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import msgspec

In = TypeVar("In", bound=msgspec.Struct)
Out = TypeVar("Out", bound=msgspec.Struct | None)
_T = TypeVar("_T")


def encode(value: msgspec.Struct) -> Any:
    """A payload as the JSON-ready value the SDK serialises."""
    return msgspec.to_builtins(value)


def decode(value: Any, type_: type[_T]) -> _T:
    """A JSON value the SDK handed over, as `type_` (msgspec.ValidationError otherwise)."""
    return msgspec.convert(value, type_)


# -- the workflow ----------------------------------------------------------------------------------
class CheckoutInput(msgspec.Struct, kw_only=True, frozen=True):
    """The workflow's input; the instance id is the order id as well. `trace` carries the
    trace context of the request that placed the order to every activity."""

    order_id: uuid.UUID
    trace: dict[str, str] = {}


class CheckoutOutput(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    order_id: uuid.UUID
    status: str
    reason: str | None = None
    skipped: bool = False


class StatusRequest(msgspec.Struct, kw_only=True, frozen=True):
    """The data of the event a status request is raised as (`cancel`, `shipped`, ...)."""

    by: Literal["customer", "admin"] = "customer"
    user_id: str | None = None


# -- activity inputs ----------------------------------------------------------------------------
class OrderRef(msgspec.Struct, kw_only=True, frozen=True):
    """The order an activity works on, and the trace its calls and events continue."""

    order_id: uuid.UUID
    trace: dict[str, str] = {}


class ChargeInput(OrderRef, kw_only=True, frozen=True):
    # With CHARGE_CONFIRMS (workflow.py) the charge also marks the paid order processing.
    confirm_order: bool = False


class RefundInput(OrderRef, kw_only=True, frozen=True):
    charge_id: str | None = None


class StatusInput(OrderRef, kw_only=True, frozen=True):
    to: str
    expected: list[str]
    reason: str | None = None


# -- activity results ---------------------------------------------------------------------------
Outcome = Literal["reserved", "out_of_stock", "rejected", "skipped"]


class ReserveResult(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """`skipped`: the order is no longer pending (`status`), a re-run must not touch it."""

    outcome: Outcome
    status: str | None = None
    unavailable: list[str] = []
    status_code: int | None = None


def resumed(reserved: ReserveResult) -> bool:
    """Whether a reservation was skipped because an earlier, failed attempt of place_order
    already charged and confirmed the order (it is processing): the charge step then runs
    again and finds that attempt's charge and hold, instead of the checkout ending with the
    order unwatched by its workflow."""
    return reserved.outcome == "skipped" and reserved.status == "processing"


Hold = Literal["confirmed", "lost"]


class ChargeResult(msgspec.Struct, kw_only=True, frozen=True):
    """`hold`: whether inventory still holds the paid order's units; `order_status`: what
    the order became when the charge also confirmed it."""

    status: Literal["succeeded", "declined"]
    charge_id: str | None = None
    decline_reason: str | None = None
    hold: Hold | None = None
    order_status: str | None = None


class PlaceResult(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """What `place_order` got done: the reservation's outcome and, once reserved, either the
    reason of a cancel the customer or an admin had already asked for (nothing charged) or
    the charge (which, when paid, also confirmed the hold and the order)."""

    reserve: ReserveResult
    cancel_reason: str | None = None
    charge: ChargeResult | None = None


class RefundResult(msgspec.Struct, kw_only=True, frozen=True):
    status: str | None = None
    refund_id: str | None = None


class StatusResult(msgspec.Struct, kw_only=True, frozen=True):
    applied: bool  # False when the order was not in an expected status
    status: str  # the status after the call


# -- activity definitions -----------------------------------------------------------------------
@dataclass(frozen=True)
class Activity(Generic[In, Out]):
    """An activity's registered name and the types of its input and result."""

    name: str
    input_type: type[In]
    output_type: type[Out]

    def wrap(self, fn: Callable[[Any, In], Awaitable[Out]]) -> Callable[[Any, Any],
                                                                     Awaitable[Any]]:
        """The function the runtime calls: decodes the input, encodes the result."""
        async def run(ctx: Any, payload: Any) -> Any:
            result = await fn(ctx, decode(payload, self.input_type))
            return None if result is None else encode(result)

        run.__name__ = self.name
        return run


RESERVE_STOCK = Activity("reserve_stock", OrderRef, ReserveResult)
RELEASE_STOCK: Activity[OrderRef, None] = Activity("release_stock", OrderRef, type(None))
COMMIT_STOCK: Activity[OrderRef, None] = Activity("commit_stock", OrderRef, type(None))
CHARGE_PAYMENT = Activity("charge_payment", ChargeInput, ChargeResult)
REFUND_PAYMENT = Activity("refund_payment", RefundInput, RefundResult)
SET_STATUS = Activity("set_status", StatusInput, StatusResult)
PLACE_ORDER = Activity("place_order", OrderRef, PlaceResult)
