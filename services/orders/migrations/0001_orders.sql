-- Orders, their lines, their status history and the transactional outbox of order events.
-- Invariants live here: statuses and reasons are checked, a status is reached at most once
-- per order, an event type is published at most once per order, and an Idempotency-Key is
-- unique per customer.

CREATE TABLE orders (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL,
    user_email       text,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processing', 'shipped', 'delivered', 'cancelled')),
    cancel_reason    text CHECK ((status = 'cancelled') = (cancel_reason IS NOT NULL)),
    currency         text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    total            numeric(12, 2) NOT NULL CHECK (total >= 0),
    payment_method   text NOT NULL,
    shipping_address jsonb NOT NULL,
    charge_id        text,
    refund_id        text,
    idempotency_key  text,
    request_hash     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_idempotency UNIQUE (user_id, idempotency_key),
    CHECK ((idempotency_key IS NULL) = (request_hash IS NULL))
);

CREATE INDEX orders_by_user ON orders (user_id, created_at DESC, id);
CREATE INDEX orders_by_time ON orders (created_at DESC, id);
-- The reconciler looks for pending orders; the partial index stays tiny.
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending';

CREATE TABLE order_items (
    order_id   uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no    smallint NOT NULL CHECK (line_no BETWEEN 1 AND 50),
    product_id uuid NOT NULL,
    name       text NOT NULL,
    unit_price numeric(12, 2) NOT NULL CHECK (unit_price >= 0),
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    line_total numeric(12, 2) NOT NULL CHECK (line_total = unit_price * quantity),
    PRIMARY KEY (order_id, line_no),
    UNIQUE (order_id, product_id)
);

CREATE TABLE order_status_history (
    order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status   text NOT NULL
             CHECK (status IN ('pending', 'processing', 'shipped', 'delivered', 'cancelled')),
    reason   text,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The lifecycle has no cycles: a status is entered at most once, so a replayed
    -- activity cannot write a second row.
    PRIMARY KEY (order_id, status)
);

CREATE TABLE order_outbox (
    id           bigserial PRIMARY KEY,
    order_id     uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    UNIQUE (order_id, event_type)
);

CREATE INDEX order_outbox_unpublished ON order_outbox (id) WHERE published_at IS NULL;
