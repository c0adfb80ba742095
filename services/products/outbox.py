"""The outbox of catalog events (see services/common/outbox.py).

`product.created`, `product.updated` and `product.deleted` are written in the transaction
that inserts, changes or soft-deletes the product (services.products.service.ProductsService), so
an event exists exactly when the change does. The admin request publishes its product's
events right after the commit; the drainer publishes what a crash or a pub/sub outage left
behind.
"""

from __future__ import annotations

from services.common.names import TOPIC_PRODUCTS
from services.common.outbox import Outbox

OUTBOX = Outbox("product_outbox", TOPIC_PRODUCTS, key_column="product_id")

