-- E-mail verification and password reset (services/users/links.py): single-use, expiring
-- links; only the token's SHA-256 is kept.
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_verified_at timestamptz;

CREATE TABLE IF NOT EXISTS account_links (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    digest     bytea NOT NULL UNIQUE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX IF NOT EXISTS account_links_user_idx ON account_links (user_id, purpose);
