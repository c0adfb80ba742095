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

-- The audit_log table and audit_row() come from services/common/sql/audit_log.sql.

CREATE TRIGGER orders_audit AFTER UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION audit_row('order', 'id', 'user_email', 'status', 'false',
        'status', 'cancel_reason', '+carrier', '+tracking_number');
