-- The audit trail of role changes (services/common/audit.py); a change made outside an
-- admin request (the first admin at start-up) is recorded without an actor.
-- The audit_log table and audit_row() come from services/common/sql/audit_log.sql.

CREATE TRIGGER users_role_audit AFTER UPDATE OF role ON users
    FOR EACH ROW EXECUTE FUNCTION audit_row('user', 'id', 'email', 'role', 'true', 'role');
