"""HTTP routes of the products service."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
