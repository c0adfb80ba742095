-- The audit trail of catalog writes (services/common/audit.py): every product created,
-- changed or soft-deleted, with who did it; a catalog write is always an admin's.
-- The audit_log table and audit_row() come from services/common/sql/audit_log.sql.

CREATE TRIGGER products_audit AFTER INSERT OR UPDATE OF name, description, price, category,
    image_url, deleted_at ON products
    FOR EACH ROW EXECUTE FUNCTION audit_row('product', 'id', 'name', 'update', 'true', 'name',
        'description', 'price', 'category', 'image_url', 'deleted_at');
