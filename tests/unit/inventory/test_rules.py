"""Pure rules of the inventory service: line normalisation, request hashing, settings."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.common.contracts.internal import ReservationLine
from services.common.settings import ConfigError
from services.inventory import settings
from services.inventory.service import OutOfStock, merge_lines, request_hash

A = uuid.UUID("00000000-0000-0000-0000-00000000000a")
B = uuid.UUID("00000000-0000-0000-0000-00000000000b")


def test_lines_are_merged_per_product_and_sorted_in_lock_order() -> None:
    lines = [ReservationLine(product_id=B, quantity=1), ReservationLine(product_id=A, quantity=2),
             ReservationLine(product_id=B, quantity=3)]
    assert merge_lines(lines) == [(A, 2), (B, 4)]


def test_the_hash_ignores_line_order_but_not_quantities() -> None:
    one = merge_lines([ReservationLine(product_id=A, quantity=1),
                       ReservationLine(product_id=B, quantity=2)])
    same = merge_lines([ReservationLine(product_id=B, quantity=2),
                        ReservationLine(product_id=A, quantity=1)])
    other = merge_lines([ReservationLine(product_id=A, quantity=2),
                         ReservationLine(product_id=B, quantity=2)])
    assert request_hash(one) == request_hash(same)
    assert request_hash(one) != request_hash(other)


def test_out_of_stock_lists_ids_sorted_as_strings() -> None:
    err = OutOfStock([B, A])
    assert err.status == 409 and err.code == "out_of_stock"
    assert err.extra == {"unavailable": [str(A), str(B)]}


def test_settings_defaults_and_overrides() -> None:
    default = settings.load({})
    assert default.reservation_ttl == timedelta(minutes=15)
    assert default.sweep_interval_seconds == 30
    custom = settings.load({"INVENTORY_RESERVATION_TTL_SECONDS": "60",
                            "INVENTORY_SWEEP_INTERVAL_SECONDS": "5"})
    assert custom.reservation_ttl == timedelta(seconds=60)
    assert custom.sweep_interval_seconds == 5


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_bad_settings_stop_start_up(value: str) -> None:
    with pytest.raises(ConfigError):
        settings.load({"INVENTORY_RESERVATION_TTL_SECONDS": value})
