"""HTTP routes of the inventory service."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
