-- Redelivery of dead letters by an admin, and its audit trail (services/common/audit.py):
-- each redelivery updates the dead letter's row with its outcome, and that update records
-- who redelivered it, in the same transaction.
ALTER TABLE dead_letters ADD COLUMN redeliveries integer NOT NULL DEFAULT 0
                             CHECK (redeliveries >= 0),
                         ADD COLUMN last_redelivered_at timestamptz,
                         ADD COLUMN last_redelivery_outcome text;

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

CREATE TRIGGER dead_letters_audit AFTER UPDATE OF redeliveries ON dead_letters
    FOR EACH ROW EXECUTE FUNCTION audit_row('dead_letter', 'event_id', 'type', 'redeliver',
        'false', 'redeliveries', 'last_redelivered_at', 'last_redelivery_outcome');
