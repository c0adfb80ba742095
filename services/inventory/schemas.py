"""What the inventory service's public API reads and answers.

The public stock read and the admin stock write have the same shapes as the internal ones
products uses, so they are the contract types (services.common.contracts.internal).
"""

from __future__ import annotations

from services.common.contracts.internal import StockRead, StockUpdate

__all__ = ["StockRead", "StockUpdate"]
