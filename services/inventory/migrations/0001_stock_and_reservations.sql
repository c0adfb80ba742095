-- Stock per product and the reservations that hold it for orders.
-- The invariants live here: on_hand >= reserved >= 0, so no code path can oversell.

CREATE TABLE stock (
    product_id  uuid PRIMARY KEY,
    on_hand     integer NOT NULL CHECK (on_hand >= 0),
    reserved    integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    -- Bumped on every change; carried by stock.changed so consumers drop stale events.
    version     bigint NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_reserved_within_on_hand CHECK (reserved <= on_hand)
);

-- One row per order: the idempotent outcome of POST /internal/reservations.
-- A repeat with the same order id returns this outcome (a failed one stays failed).
CREATE TABLE reservation_orders (
    order_id      uuid PRIMARY KEY,
    status        text NOT NULL
        CHECK (status IN ('reserved', 'committed', 'released', 'expired', 'out_of_stock')),
    -- sha256 of the normalised lines: the same order id with other lines is a 422.
    request_hash  text NOT NULL,
    unavailable   uuid[] NOT NULL DEFAULT '{}',
    confirmed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'out_of_stock') = (cardinality(unavailable) > 0))
);

CREATE TABLE reservations (
    order_id    uuid NOT NULL REFERENCES reservation_orders (order_id),
    product_id  uuid NOT NULL REFERENCES stock (product_id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    status      text NOT NULL CHECK (status IN ('reserved', 'committed', 'released', 'expired')),
    -- NULL once the order is confirmed (paid): held until commit or release.
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, product_id)
);

-- The sweeper's scan: reserved lines past their expiry.
CREATE INDEX reservations_expiring ON reservations (expires_at)
    WHERE status = 'reserved' AND expires_at IS NOT NULL;
CREATE INDEX reservations_product ON reservations (product_id);
