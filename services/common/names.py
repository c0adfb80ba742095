"""Named Dapr resources, app ids and topics: one spelling, used everywhere."""

from typing import Final

# Dapr components (components/*.yaml)
STATESTORE: Final = "statestore"
CACHE: Final = "cache"
PUBSUB: Final = "pubsub"
SECRETSTORE: Final = "secretstore"
EMAIL: Final = "email"
# Product pictures (an output binding: local storage locally, any blob store elsewhere).
MEDIA: Final = "media"

# App ids (the folder name under services/, the run-file appID, the compose service ...)
GATEWAY: Final = "gateway"
USERS: Final = "users"
PRODUCTS: Final = "products"
ORDERS: Final = "orders"
PAYMENTS: Final = "payments"
INVENTORY: Final = "inventory"
NOTIFICATIONS: Final = "notifications"
# The storefront: every path outside /api, /health, /docs, /openapi.json (gateway -> web).
WEB: Final = "web"
BASKET: Final = "basket"

BACKEND_APPS: Final = (USERS, PRODUCTS, ORDERS, PAYMENTS, INVENTORY, NOTIFICATIONS,
                       BASKET)

# Topics on the `pubsub` component
TOPIC_ORDERS: Final = "orders"
TOPIC_INVENTORY: Final = "inventory"
TOPIC_USERS: Final = "users"
TOPIC_PRODUCTS: Final = "products"
DEAD_LETTER_TOPIC: Final = "deadletter"

# Headers the gateway sets after verifying a token (and strips from client requests).
HEADER_USER_ID: Final = "x-user-id"
HEADER_USER_ROLE: Final = "x-user-role"
HEADER_USER_EMAIL: Final = "x-user-email"
# "1" when the token says the e-mail address was verified (claim `email_verified`).
HEADER_USER_EMAIL_VERIFIED: Final = "x-user-email-verified"
# A guest basket's token (POST /api/basket/guest), sent back by the client and passed on
# by the gateway.
HEADER_BASKET_TOKEN: Final = "x-basket-token"  # noqa: S105 (a header name)
# Set by daprd on every call it makes to its app when APP_API_TOKEN is configured.
HEADER_DAPR_API_TOKEN: Final = "dapr-api-token"  # noqa: S105 (a header name)

# Access tokens issued by users and verified by the gateway (the cross-service contract).
TOKEN_ISSUER: Final = "ecommerce-users"  # noqa: S105 (a name, not a secret)
TOKEN_AUDIENCE: Final = "ecommerce-api"  # noqa: S105 (a name, not a secret)
TOKEN_ALGORITHM: Final = "ES256"  # noqa: S105 (a name, not a secret)
# The caller's network address as seen by the gateway (set by the gateway only).
HEADER_CLIENT_IP: Final = "x-client-ip"
# On a public read: the catalog version (`<cache key>=<value>` in the `cache` store) the
# body is valid under. The gateway keeps such answers and reuses one only while that key
# still holds that value (services/gateway/edgecache.py); never passed on to clients.
HEADER_CACHE_VERSION: Final = "x-cache-version"
