-- E-mails with an account link (e-mail verification, password reset): no order, one per
-- link (dedupe key `<kind>:<link id>`, services/notifications/schemas.py).
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'notifications'::regclass AND contype = 'c'
               AND pg_get_constraintdef(oid) LIKE '%kind%' LOOP
        EXECUTE format('ALTER TABLE notifications DROP CONSTRAINT %I', c.conname);
    END LOOP;
END $$;
ALTER TABLE notifications
    ADD CONSTRAINT notifications_kind_check CHECK (kind IN (
        'welcome', 'order_confirmed', 'order_cancelled', 'order_shipped', 'order_delivered',
        'verify_email', 'password_reset')),
    ADD CONSTRAINT notifications_order_kind_check CHECK ((order_id IS NOT NULL) = (kind LIKE 'order\_%'));
