-- Accounts: e-mails are stored normalised (lower case) and unique regardless of case.
CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role          text NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'admin')),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_ci_key ON users (lower(email));
CREATE INDEX users_created_idx ON users (created_at, id);

-- Refresh tokens: only a SHA-256 of each is kept. A login starts a family; each rotation
-- marks the used token and adds its successor to the same family, so the reuse of a used
-- token can revoke the whole chain.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash  bytea NOT NULL UNIQUE,
    family_id   uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    replaced_by uuid REFERENCES refresh_tokens (id),
    revoked_at  timestamptz,
    CHECK (expires_at > issued_at)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
