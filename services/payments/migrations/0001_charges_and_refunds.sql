-- Charges and refunds, each keyed by the caller's idempotency key.
-- A charge row is claimed as `pending` before the provider is called, so concurrent
-- requests with one key make one row and one provider call; the outcome is then stored.

CREATE TABLE charges (
    id               uuid PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    order_id         uuid NOT NULL,
    user_id          uuid NOT NULL,
    amount           numeric(12, 2) NOT NULL CHECK (amount > 0),
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    payment_method   text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'declined')),
    decline_reason   text,
    provider         text NOT NULL,
    provider_ref     text,
    -- Sum of the refunds taken against this charge; never more than the amount.
    refunded_amount  numeric(12, 2) NOT NULL DEFAULT 0,
    -- sha256 of the normalised request: the same key with another body is a 422.
    request_hash     text NOT NULL,
    -- When a request last started calling the provider for this pending charge (the lease
    -- another request may take over once it is stale).
    attempted_at     timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT charges_refunds_within_amount
        CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
    CONSTRAINT charges_refunds_only_when_succeeded
        CHECK (refunded_amount = 0 OR status = 'succeeded'),
    CONSTRAINT charges_decline_has_reason
        CHECK ((status = 'declined') = (decline_reason IS NOT NULL))
);
CREATE INDEX charges_order ON charges (order_id);

CREATE TABLE refunds (
    id               uuid PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    charge_id        uuid NOT NULL REFERENCES charges (id),
    amount           numeric(12, 2) NOT NULL CHECK (amount > 0),
    status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    provider_ref     text,
    request_hash     text NOT NULL,
    attempted_at     timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_charge ON refunds (charge_id);

-- The refunds that hold money (pending or succeeded) never add up to more than the
-- charge: charges.refunded_amount is their sum, kept in the same transaction.
CREATE FUNCTION refunds_within_charge() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held numeric(12, 2);
    charged numeric(12, 2);
BEGIN
    SELECT amount INTO charged FROM charges WHERE id = NEW.charge_id;
    SELECT coalesce(sum(amount), 0) INTO held FROM refunds
        WHERE charge_id = NEW.charge_id AND status IN ('pending', 'succeeded');
    IF held > charged THEN
        RAISE EXCEPTION 'refunds of charge % exceed its amount', NEW.charge_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER refunds_within_charge
    AFTER INSERT OR UPDATE ON refunds
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION refunds_within_charge();
