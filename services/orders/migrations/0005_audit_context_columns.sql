-- 0004_admin_audit.sql was first applied, on some development databases, in an earlier
-- form: a trigger that also fired on the carrier and tracking number, and a function
-- without context columns (`+name`). This brings every database to the one function of
-- services/common/audit.py and the one trigger; on a fresh database it changes nothing.
CREATE OR REPLACE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
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

DROP TRIGGER IF EXISTS orders_audit ON orders;
CREATE TRIGGER orders_audit AFTER UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION audit_row('order', 'id', 'user_email', 'status', 'false',
        'status', 'cancel_reason', '+carrier', '+tracking_number');
