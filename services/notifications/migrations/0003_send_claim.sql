-- A delivery claims a notification for the time of one send instead of holding its row lock
-- (and with it a pooled connection) while the e-mail goes out through the SMTP binding.
-- `claim_token` names the delivery that may send it until `claimed_until`; a claim that
-- outlives its time (the process died mid-send) can be taken over by the next delivery
-- (services/notifications/service.py).
ALTER TABLE notifications ADD COLUMN claim_token uuid, ADD COLUMN claimed_until timestamptz;
