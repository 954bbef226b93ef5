-- Push devices, and channel retention.

-- A device is where a user's client wants to be woken when a message arrives
-- while it has no live connection: a Web Push subscription (RFC 8030, with
-- the keys of RFC 8291 payload encryption) or a UnifiedPush endpoint. An
-- endpoint is one device's: registering it again, from whichever account,
-- moves it to that account.
CREATE TABLE devices (
	id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id        bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	kind           text NOT NULL CHECK (kind IN ('webpush', 'unifiedpush')),
	endpoint       text NOT NULL UNIQUE,
	p256dh         text,                           -- webpush only
	auth           text,                           -- webpush only
	include_sender boolean NOT NULL DEFAULT false, -- the user opted in to the sender's name in pushes
	created_at     timestamptz NOT NULL,
	CHECK ((kind = 'webpush') = (p256dh IS NOT NULL AND auth IS NOT NULL))
);
CREATE INDEX devices_user_id_idx ON devices (user_id);

-- created_by: who may change a channel's settings (with admins). Existing
-- channels get their earliest member, who created them.
-- retention_days: messages older than this are deleted; NULL keeps them.
-- history_start_seq: messages before it were deleted by retention, so a
-- client knows history starts there rather than that it lost something.
ALTER TABLE conversations
	ADD COLUMN created_by        bigint REFERENCES users ON DELETE SET NULL,
	ADD COLUMN retention_days    integer CHECK (retention_days BETWEEN 1 AND 36500),
	ADD COLUMN history_start_seq bigint NOT NULL DEFAULT 1;
UPDATE conversations c SET created_by = (
	SELECT m.user_id FROM members m WHERE m.conversation_id = c.id ORDER BY m.joined_at, m.user_id LIMIT 1)
WHERE c.kind = 'channel';
CREATE INDEX conversations_retention_idx ON conversations (id) WHERE retention_days IS NOT NULL;
