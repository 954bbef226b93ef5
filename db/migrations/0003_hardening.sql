-- Hardening (issue 10): logins that end by themselves, a grace window for
-- lost refresh responses, and search that an index serves.

-- A login lives at most until expires_at, however often it is refreshed.
-- Existing logins get the default lifetime of 90 days from their start.
ALTER TABLE sessions ADD COLUMN expires_at timestamptz;
UPDATE sessions SET expires_at = created_at + interval '90 days';
ALTER TABLE sessions ALTER COLUMN expires_at SET NOT NULL;

-- replaced_by links a used refresh token to the one its rotation issued, so
-- that a token presented again within the grace window can be told apart
-- from a stolen one: it is a lost response only while the replacement has
-- not been used.
ALTER TABLE refresh_tokens ADD COLUMN replaced_by bytea;

-- The periodic purge finds expired tokens and ended logins by these.
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);
CREATE INDEX sessions_ended_idx ON sessions (coalesce(revoked_at, expires_at));

-- Channel search matches a substring of the name, ignoring case: a trigram
-- index serves that, where a LIKE '%q%' would scan every channel.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX conversations_name_trgm_idx ON conversations USING gin (lower(name) gin_trgm_ops) WHERE kind = 'channel';

