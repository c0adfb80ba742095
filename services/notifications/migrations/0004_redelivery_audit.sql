-- Redelivery of dead letters by an admin, and its audit trail (services/common/audit.py):
-- each redelivery updates the dead letter's row with its outcome, and that update records
-- who redelivered it, in the same transaction.
ALTER TABLE dead_letters ADD COLUMN redeliveries integer NOT NULL DEFAULT 0
                             CHECK (redeliveries >= 0),
                         ADD COLUMN last_redelivered_at timestamptz,
                         ADD COLUMN last_redelivery_outcome text;

-- The audit_log table and audit_row() come from services/common/sql/audit_log.sql.

CREATE TRIGGER dead_letters_audit AFTER UPDATE OF redeliveries ON dead_letters
    FOR EACH ROW EXECUTE FUNCTION audit_row('dead_letter', 'event_id', 'type', 'redeliver',
        'false', 'redeliveries', 'last_redelivered_at', 'last_redelivery_outcome');
