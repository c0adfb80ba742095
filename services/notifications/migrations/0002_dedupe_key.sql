-- One e-mail per business fact as well as per CloudEvent id: a publisher that re-publishes
-- the same step after a crash (the orders outbox is at-least-once) mints a new CloudEvent id.
-- The key is `<kind>:<order id>` for order e-mails and `welcome:<user id>`.
ALTER TABLE notifications ADD COLUMN dedupe_key text;

UPDATE notifications n SET dedupe_key = d.key
FROM (SELECT id, kind || ':' || coalesce(order_id, user_id)::text AS key,
             row_number() OVER (PARTITION BY kind, coalesce(order_id, user_id)
                                ORDER BY created_at, id) AS rn
      FROM notifications) d
WHERE n.id = d.id AND d.rn = 1;

CREATE UNIQUE INDEX notifications_dedupe ON notifications (dedupe_key);
