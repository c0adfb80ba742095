-- product.created / product.updated / product.deleted are written in the transaction that
-- changes the product and published after it commits (services/common/outbox.py), so a crash
-- or a pub/sub outage in between loses no event.
CREATE TABLE product_outbox (
    id           bigserial PRIMARY KEY,
    product_id   uuid NOT NULL,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX product_outbox_unpublished ON product_outbox (id) WHERE published_at IS NULL;
