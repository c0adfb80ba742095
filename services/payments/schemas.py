"""What the payments service reads and answers.

Every route of payments is internal (orders charges and refunds), so its shapes are the
contract types both sides import (services.common.contracts.internal).
"""

from __future__ import annotations

from services.common.contracts.internal import ChargeCreate, ChargeRead, RefundCreate, RefundRead

__all__ = ["ChargeCreate", "ChargeRead", "RefundCreate", "RefundRead"]
