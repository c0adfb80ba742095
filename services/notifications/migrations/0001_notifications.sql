-- Every e-mail the service sends (or fails to send), one row per event: the CloudEvent id is
-- the idempotency key, so a redelivered event finds its row instead of sending again.
CREATE TABLE notifications (
    id          uuid PRIMARY KEY,
    event_id    text NOT NULL UNIQUE CHECK (length(event_id) BETWEEN 1 AND 200),
    user_id     uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('welcome', 'order_confirmed', 'order_cancelled',
                                              'order_shipped', 'order_delivered')),
    subject     text NOT NULL,
    order_id    uuid,
    recipient   text NOT NULL,
    body_text   text NOT NULL,
    body_html   text NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error  text,
    read_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CHECK ((kind = 'welcome') = (order_id IS NULL))
);

CREATE INDEX notifications_user_created ON notifications (user_id, created_at DESC, id);
CREATE INDEX notifications_created ON notifications (created_at DESC, id);
CREATE INDEX notifications_order ON notifications (order_id) WHERE order_id IS NOT NULL;

-- What reached the shared dead-letter topic (from any subscriber of the platform), so that no
-- failed message is lost silently; `deliveries` counts how often the same event arrived.
CREATE TABLE dead_letters (
    event_id    text PRIMARY KEY,
    topic       text NOT NULL DEFAULT '',
    type        text NOT NULL DEFAULT '',
    source      text NOT NULL DEFAULT '',
    data        jsonb,
    deliveries  integer NOT NULL DEFAULT 1 CHECK (deliveries >= 1),
    received_at timestamptz NOT NULL DEFAULT now(),
    last_received_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX dead_letters_received ON dead_letters (received_at DESC, event_id);
