"""The session's test order: the log audit runs last because it is marked, not because of
its file name (tests/conftest.py, pytest_collection_modifyitems)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import pytest_collection_modifyitems


class _Item:
    def __init__(self, path: str, *, last: bool = False) -> None:
        self.path = Path("/repo") / path
        self.last = last
        self.markers: list[Any] = []
        self.fixturenames: list[str] = []

    def get_closest_marker(self, name: str) -> object | None:
        return object() if name == "runs_last" and self.last else None

    def add_marker(self, marker: Any) -> None:
        self.markers.append(marker)


def test_the_marked_audit_runs_after_every_other_test_whatever_its_name() -> None:
    audit = _Item("tests/integration/platform/test_logs.py", last=True)
    others = [_Item("tests/integration/users/test_users.py"),
              _Item("tests/integration/platform/test_zz_after.py"),
              _Item("tests/unit/orders/test_rules.py")]
    items: list[Any] = [audit, *others]
    pytest_collection_modifyitems(items)
    assert items[-1] is audit and items[:-1] == others


def test_the_audit_module_carries_the_marker() -> None:
    from tests.integration.platform import test_logs

    assert test_logs.pytestmark.name == "runs_last"
