-- stock.changed events are written in the transaction that changes the stock and published
-- after it commits (services/common/outbox.py), so a crash in between loses no event.
CREATE TABLE stock_outbox (
    id           bigserial PRIMARY KEY,
    product_id   uuid NOT NULL,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX stock_outbox_unpublished ON stock_outbox (id) WHERE published_at IS NULL;
