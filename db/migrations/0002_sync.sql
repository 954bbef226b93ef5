-- Lossless sync: every change to a conversation's messages is numbered, so a
-- client that was away can ask for exactly what changed.
--
-- conversations.last_event_seq counts the changes to the conversation's
-- messages (created, edited, deleted), 1, 2, 3, … with no holes, in commit
-- order: each change takes the conversation's row lock to bump it, as a post
-- does for last_seq. messages.event_seq is the number of the message's latest
-- change, so the changes feed is one index range.
--
-- change_id is a position in one order across all conversations, drawn from
-- the message id sequence: a new message's change_id is its id, an edit or a
-- delete draws a fresh value. An event stream's resume cursor (the highest
-- message id announced) is therefore a change_id too. It is drawn under the
-- conversation's row lock, so within a conversation it rises with event_seq.
-- members.read_change_id and members.joined_change_id place read markers and
-- joins in the same order, for the same replay: they take the sequence's
-- last value rather than drawing one, so they use up no message ids.
--
-- last_message_at keeps the conversation list from looking at messages, and
-- messages_deleted_idx lets the unread count be arithmetic on seq: a sender's
-- read marker moves to each message they post, so the messages after a
-- marker are never the member's own, and unread = last_seq - last_read_seq -
-- (deleted messages after the marker).

ALTER TABLE conversations
	ADD COLUMN last_event_seq  bigint NOT NULL DEFAULT 0,
	ADD COLUMN last_change_id  bigint NOT NULL DEFAULT 0,
	ADD COLUMN last_message_at timestamptz;

ALTER TABLE messages
	ADD COLUMN event_seq bigint,
	ADD COLUMN change_id bigint;

ALTER TABLE members
	ADD COLUMN read_change_id   bigint NOT NULL DEFAULT 0,
	ADD COLUMN joined_change_id bigint NOT NULL DEFAULT 0;

-- Existing messages: one change each (their creation), in seq order.
UPDATE messages SET event_seq = seq, change_id = id;
UPDATE conversations c SET last_event_seq = c.last_seq,
	last_change_id = coalesce((SELECT max(id) FROM messages WHERE conversation_id = c.id), 0),
	last_message_at = (SELECT created_at FROM messages WHERE conversation_id = c.id ORDER BY seq DESC LIMIT 1);
-- Existing read markers move past the member's own messages, as posting now does.
UPDATE members m SET last_read_seq = s.seq
FROM (SELECT conversation_id, sender_id, max(seq) AS seq FROM messages GROUP BY conversation_id, sender_id) s
WHERE s.conversation_id = m.conversation_id AND s.sender_id = m.user_id AND m.last_read_seq < s.seq;

ALTER TABLE messages
	ALTER COLUMN event_seq SET NOT NULL,
	ALTER COLUMN change_id SET NOT NULL;

CREATE UNIQUE INDEX messages_event_seq_key ON messages (conversation_id, event_seq);
CREATE INDEX messages_deleted_idx ON messages (conversation_id, seq) WHERE deleted_at IS NOT NULL;

-- The conversation list pages a user's memberships by conversation id.
CREATE INDEX members_user_conversation_idx ON members (user_id, conversation_id);
DROP INDEX members_user_id_idx;
