-- The audit trail of stock set by an admin (services/common/audit.py); stock that moves
-- with reservations has no actor and is not recorded.
-- The audit_log table and audit_row() come from services/common/sql/audit_log.sql.

CREATE TRIGGER stock_audit AFTER INSERT OR UPDATE OF on_hand ON stock
    FOR EACH ROW EXECUTE FUNCTION audit_row('stock', 'product_id', '', 'set', 'false',
        'on_hand');
