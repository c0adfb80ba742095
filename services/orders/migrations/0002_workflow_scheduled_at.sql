-- When a workflow start was last requested for the order. Only the caller that moves it
-- forward may schedule, so the request, an Idempotency-Key replay and the reconciler never
-- start the same instance twice at once (two concurrent starts left an instance unreadable).
ALTER TABLE orders ADD COLUMN workflow_scheduled_at timestamptz;
