-- One POST /api/v1/conversations/{id}/messages as db.(*Store).CreateMessage
-- runs it when it is stored alone: createMessageSQL (db/messages.go), one
-- statement that bumps the conversation's seq and event_seq, moves the
-- sender's read marker and inserts the message, word for word. So pgbench
-- commits once per message, as the server did before group commit; under
-- load the server stores concurrent posts together (db/postbatch.go), and
-- make bench wants it at 0.8 of this rate at least.
-- db/replay_test.go fails if it drifts from the store.
--
-- pgbench client i is user user_base+i posting to conversation conv_base+i,
-- whose only member it is, like parley-bench's client i. Each post has a
-- random client_msg_id, as each of parley-bench's has a unique one.
--
-- Variables: -D conv_base=N -D user_base=N -D body=TEXT -D created_at=TIMESTAMPTZ
\set conv_id :conv_base + :client_id
\set user_id :user_base + :client_id
\set client_msg_id random(1, 9000000000000000000)
WITH bump AS (
	UPDATE conversations c SET last_seq = c.last_seq + 1, last_event_seq = c.last_event_seq + 1,
		last_change_id = nextval('messages_id_seq'), last_message_at = :created_at
	FROM members m WHERE c.id = :conv_id AND m.conversation_id = c.id AND m.user_id = :user_id
	RETURNING c.last_seq, c.last_event_seq, c.last_change_id
), mark AS (
	UPDATE members m SET last_read_seq = greatest(m.last_read_seq, bump.last_seq)
	FROM bump WHERE m.conversation_id = :conv_id AND m.user_id = :user_id
)
INSERT INTO messages (id, conversation_id, seq, event_seq, change_id, sender_id, body, client_msg_id, created_at)
OVERRIDING SYSTEM VALUE
SELECT last_change_id, :conv_id, last_seq, last_event_seq, last_change_id, :user_id, :body, :client_msg_id, :created_at FROM bump
RETURNING id, seq, event_seq, created_at;
