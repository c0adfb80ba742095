-- The audit trail's table and trigger function (services/common/audit.py), the same in every
-- audited service's database. Not a migration of any one service: the runner applies it once
-- per database, before the service's own files, when the service is built with
-- `shared_migrations=(audit.MIGRATION,)`. Each service's own migration then creates its
-- triggers: `audit_row(entity, key column, label column or '', update action, record
-- without an actor (true/false), column, ...)`. A change is recorded when a column changed;
-- a column written `+name` is context: shown with its value after, never compared.
CREATE TABLE IF NOT EXISTS audit_log (
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
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_log_entity ON audit_log (entity_id, at DESC);

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
