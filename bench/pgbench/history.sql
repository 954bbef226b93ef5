-- The history SELECT of GET /api/v1/conversations/{id}/messages with no
-- cursor, as db.(*Store).ListMessages runs it: latestMessagesSQL
-- (db/messages.go), word for word. db/replay_test.go fails if it drifts.
--
-- pgbench client i is user user_base+i reading conversation conv_base+i.
-- The store asks for one row more than the page of 15 to learn has_more.
--
-- Variables: -D conv_base=N -D user_base=N
\set conv_id :conv_base + :client_id
\set user_id :user_base + :client_id
\set page_rows 16
SELECT id, conversation_id, seq, event_seq, sender_id, body, client_msg_id, created_at, edited_at, deleted_at FROM messages WHERE conversation_id = :conv_id AND EXISTS (SELECT 1 FROM members WHERE conversation_id = :conv_id AND user_id = :user_id) ORDER BY seq DESC LIMIT :page_rows;
