-- The catalog. Prices are NUMERIC(12,2); stock_quantity is a read model of the inventory
-- service (stock.changed events), never written by clients.

-- Trigram matching for typo-tolerant search. pg_trgm is a trusted extension (PG13+), so the
-- database owner may create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE products (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    price           numeric(12, 2) NOT NULL CHECK (price >= 0),
    category        text NOT NULL CHECK (length(btrim(category)) BETWEEN 1 AND 60),
    image_url       text CHECK (image_url IS NULL OR length(image_url) <= 2000),
    stock_quantity  integer NOT NULL DEFAULT 0 CHECK (stock_quantity >= 0),
    -- Ordering of stock.changed events: a version when inventory sends one, else the
    -- CloudEvent time; an older event never overwrites a newer one.
    stock_version   bigint,
    stock_changed_at timestamptz,
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    search          tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A')
        || setweight(to_tsvector('english', category), 'B')
        || setweight(to_tsvector('english', description), 'C')
    ) STORED
);

CREATE INDEX products_search_idx ON products USING gin (search);
CREATE INDEX products_name_trgm_idx ON products USING gin (name gin_trgm_ops);
CREATE INDEX products_active_category_idx ON products (lower(category)) WHERE deleted_at IS NULL;
CREATE INDEX products_active_price_idx ON products (price, id) WHERE deleted_at IS NULL;
CREATE INDEX products_active_created_idx ON products (created_at DESC, id) WHERE deleted_at IS NULL;
CREATE INDEX products_active_name_idx ON products (lower(name), id) WHERE deleted_at IS NULL;

-- Event ids already applied (at-least-once delivery: a redelivered event is a no-op).
CREATE TABLE processed_events (
    event_id     text PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);
