-- One POST /api/v1/conversations/{id}/messages as db.(*Store).CreateMessage
-- runs it: BEGIN; bumpSeqSQL; insertMessageSQL; COMMIT (db/messages.go),
-- word for word. db/replay_test.go fails if these drift from the store.
--
-- pgbench client i is user user_base+i posting to conversation conv_base+i,
-- whose only member it is, like parley-bench's client i. client_msg_id takes
-- the new seq, which is unique in the conversation; created_at is fixed.
--
-- Variables: -D conv_base=N -D user_base=N -D body=TEXT -D created_at=TIMESTAMPTZ
\set conv_id :conv_base + :client_id
\set user_id :user_base + :client_id
BEGIN;
UPDATE conversations c SET last_seq = c.last_seq + 1 FROM members m WHERE c.id = :conv_id AND m.conversation_id = c.id AND m.user_id = :user_id RETURNING c.last_seq
\gset
INSERT INTO messages (conversation_id, seq, sender_id, body, client_msg_id, created_at) VALUES (:conv_id, :last_seq, :user_id, :body, :last_seq, :created_at) ON CONFLICT (conversation_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING RETURNING id, created_at;
COMMIT;
