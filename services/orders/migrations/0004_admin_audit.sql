-- Shipping details and the audit trail of admin status changes (services/common/audit.py).
--
-- A status change is requested through the API and applied later by the order's workflow,
-- outside the request: the request stores who asked for it (and, for a shipment, the carrier
-- and tracking number) in order_status_requests, and the workflow's transition reads that
-- row in its own transaction, so the order's new status, its shipping details and the audit
-- row commit together. A status the workflow reaches on its own has no actor: not recorded.
ALTER TABLE orders ADD COLUMN carrier text CHECK (length(carrier) <= 100),
                   ADD COLUMN tracking_number text CHECK (length(tracking_number) <= 100);

CREATE TABLE order_status_requests (
    order_id        uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status          text NOT NULL CHECK (status IN ('shipped', 'delivered', 'cancelled')),
    actor_id        uuid NOT NULL,
    actor_email     text NOT NULL DEFAULT '',
    actor_role      text NOT NULL CHECK (actor_role IN ('customer', 'admin')),
    carrier         text CHECK (length(carrier) <= 100),
    tracking_number text CHECK (length(tracking_number) <= 100),
    requested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, status)
);

CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id     uuid,
    actor_email  text,
    action       text NOT NULL,
    entity       text NOT NULL,
    entity_id    text NOT NULL,
    entity_label text,
    before       jsonb,
    after        jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_entity ON audit_log (entity_id, at DESC);

CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cols text[] := TG_ARGV[5:];
    actor text := nullif(current_setting('ecommerce.actor_id', true), '');
    old_j jsonb;
    new_j jsonb := to_jsonb(NEW);
    before_j jsonb := '{}';
    after_j jsonb := '{}';
    col text;
    act text;
BEGIN
    IF actor IS NULL AND NOT TG_ARGV[4]::boolean THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        FOREACH col IN ARRAY cols LOOP
            col := ltrim(col, '+');
            after_j := after_j || jsonb_build_object(col, new_j -> col);
        END LOOP;
        before_j := NULL;
        act := TG_ARGV[0] || '.create';
    ELSE
        old_j := to_jsonb(OLD);
        FOREACH col IN ARRAY cols LOOP
            IF left(col, 1) <> '+' AND (old_j -> col) IS DISTINCT FROM (new_j -> col) THEN
                before_j := before_j || jsonb_build_object(col, old_j -> col);
                after_j := after_j || jsonb_build_object(col, new_j -> col);
            END IF;
        END LOOP;
        IF after_j = '{}' THEN
            RETURN NULL;
        END IF;
        FOREACH col IN ARRAY cols LOOP
            IF left(col, 1) = '+' THEN
                after_j := after_j || jsonb_build_object(substr(col, 2), new_j -> substr(col, 2));
            END IF;
        END LOOP;
        IF (after_j ->> 'deleted_at') IS NOT NULL THEN
            act := TG_ARGV[0] || '.delete';
        ELSE
            act := TG_ARGV[0] || '.' || TG_ARGV[3];
        END IF;
    END IF;
    INSERT INTO audit_log (actor_id, actor_email, action, entity, entity_id, entity_label,
                           before, after)
    VALUES (actor::uuid, nullif(current_setting('ecommerce.actor_email', true), ''), act,
            TG_ARGV[0], new_j ->> TG_ARGV[1],
            CASE WHEN TG_ARGV[2] <> '' THEN new_j ->> TG_ARGV[2] END, before_j, after_j);
    RETURN NULL;
END
$$;

CREATE TRIGGER orders_audit AFTER UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION audit_row('order', 'id', 'user_email', 'status', 'false',
        'status', 'cancel_reason', '+carrier', '+tracking_number');
