-- Events written in the same transaction as the change they announce (user.registered),
-- published after the commit; unpublished rows are retried by a background drainer.
CREATE TABLE user_outbox (
    id           bigserial PRIMARY KEY,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0
);
CREATE INDEX user_outbox_pending_idx ON user_outbox (id) WHERE published_at IS NULL;
