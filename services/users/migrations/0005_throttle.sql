-- Guess counters for logins and password checks (services/users/throttle.py). One row per
-- key; a guarded upsert takes a slot atomically, so no concurrency admits more guesses than
-- the limit. Keys are digests: no e-mail or address is stored here.
CREATE TABLE IF NOT EXISTS throttle (
    key        text PRIMARY KEY,
    hits       integer NOT NULL CHECK (hits >= 0),
    window_end timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS throttle_window_end ON throttle (window_end);
