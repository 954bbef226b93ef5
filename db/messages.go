package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"parley/model"
)

// Posting a message is one statement, so one round trip and one implicit
// transaction: createMessageSQL bumps the conversation's last_seq and
// last_event_seq, draws the message's id (which is also its change id, see
// migration 0002), moves the sender's read marker to the new message and
// inserts it. The UPDATE takes the conversation's row lock, which serialises
// every change to the conversation's messages until the statement commits,
// so seq and event_seq numbers are gapless and in commit order. When the
// sender's client_msg_id was used already, the insert violates
// messages_client_msg_id_key and the whole statement rolls back (the bumps
// too, so no hole); selectMessageByClientIDSQL then fetches the original.
const (
	// createMessageSQL returns no row unless $2 is a member of conversation $1.
	createMessageSQL = `WITH bump AS (
	UPDATE conversations c SET last_seq = c.last_seq + 1, last_event_seq = c.last_event_seq + 1,
		last_change_id = nextval('messages_id_seq'), last_message_at = $5
	FROM members m WHERE c.id = $1 AND m.conversation_id = c.id AND m.user_id = $2
	RETURNING c.last_seq, c.last_event_seq, c.last_change_id
), mark AS (
	UPDATE members m SET last_read_seq = greatest(m.last_read_seq, bump.last_seq)
	FROM bump WHERE m.conversation_id = $1 AND m.user_id = $2
)
INSERT INTO messages (id, conversation_id, seq, event_seq, change_id, sender_id, body, client_msg_id, created_at)
OVERRIDING SYSTEM VALUE
SELECT last_change_id, $1, last_seq, last_event_seq, last_change_id, $2, $3, $4, $5 FROM bump
RETURNING id, seq, event_seq, created_at`

	selectMessageByClientIDSQL = `SELECT id, conversation_id, seq, event_seq, sender_id, body, client_msg_id, created_at, edited_at, deleted_at FROM messages WHERE conversation_id = $1 AND sender_id = $2 AND client_msg_id = $3`
)

// History pages are one SELECT each that also checks membership; only an
// empty page costs a second query (memberSQL) to tell "not a member" from "no
// messages there". Pages come by key on (conversation_id, seq), never OFFSET,
// and the caller asks for one row more than the page to learn has_more.
const (
	// latestMessagesSQL is the default page: the newest $3, newest first.
	latestMessagesSQL = `SELECT id, conversation_id, seq, event_seq, sender_id, body, client_msg_id, created_at, edited_at, deleted_at FROM messages WHERE conversation_id = $1 AND EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2) ORDER BY seq DESC LIMIT $3`

	// beforeMessagesSQL: the newest $3 with seq < $4, newest first.
	beforeMessagesSQL = `SELECT id, conversation_id, seq, event_seq, sender_id, body, client_msg_id, created_at, edited_at, deleted_at FROM messages WHERE conversation_id = $1 AND EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2) AND seq < $4 ORDER BY seq DESC LIMIT $3`

	// afterMessagesSQL: the oldest $3 with seq > $4, oldest first.
	afterMessagesSQL = `SELECT id, conversation_id, seq, event_seq, sender_id, body, client_msg_id, created_at, edited_at, deleted_at FROM messages WHERE conversation_id = $1 AND EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2) AND seq > $4 ORDER BY seq LIMIT $3`

	memberSQL = `SELECT EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2)`
)

const (
	selectMessageSQL = `SELECT msg.id, msg.conversation_id, msg.seq, msg.event_seq, msg.sender_id, msg.body, msg.client_msg_id, msg.created_at, msg.edited_at, msg.deleted_at
FROM messages msg JOIN members m ON m.conversation_id = msg.conversation_id AND m.user_id = $2
WHERE msg.id = $1`

	selectMessagesSQL = `SELECT msg.id, msg.conversation_id, msg.seq, msg.event_seq, msg.sender_id, msg.body, msg.client_msg_id, msg.created_at, msg.edited_at, msg.deleted_at
FROM messages msg JOIN members m ON m.conversation_id = msg.conversation_id AND m.user_id = $2
WHERE msg.id = ANY($1)
ORDER BY msg.id`
)

// An edit or a delete is a change to the conversation, numbered like a post:
// in one transaction, bumpChangeSQL takes the conversation's row lock and its
// next event_seq and change id, then the edit or delete applies them to the
// message, under conditions it checks again now that no other change to the
// conversation can commit in between. If they fail, the transaction rolls
// back, bump and all, so no number is lost.
const (
	// bumpChangeSQL numbers a change to message $1's conversation if $2 is
	// a member of it, or an admin when $3.
	bumpChangeSQL = `UPDATE conversations c SET last_event_seq = c.last_event_seq + 1, last_change_id = nextval('messages_id_seq')
FROM messages msg
WHERE msg.id = $1 AND c.id = msg.conversation_id
	AND (EXISTS (SELECT 1 FROM members WHERE conversation_id = c.id AND user_id = $2)
		OR ($3 AND EXISTS (SELECT 1 FROM users WHERE id = $2 AND is_admin)))
RETURNING c.last_event_seq, c.last_change_id`

	// updateMessageSQL changes nothing unless $2 sent message $1, is still
	// a member, and the message is not deleted.
	updateMessageSQL = `UPDATE messages msg SET body = $3, edited_at = $4, event_seq = $5, change_id = $6
WHERE msg.id = $1 AND msg.sender_id = $2 AND msg.deleted_at IS NULL
	AND EXISTS (SELECT 1 FROM members WHERE conversation_id = msg.conversation_id AND user_id = $2)
RETURNING msg.id, msg.conversation_id, msg.seq, msg.event_seq, msg.sender_id, msg.body, msg.client_msg_id, msg.created_at, msg.edited_at, msg.deleted_at`

	// deleteMessageSQL changes nothing unless message $1 is not deleted yet
	// and $2 sent it and is still a member, or is an admin.
	deleteMessageSQL = `UPDATE messages msg SET body = '', deleted_at = $3, event_seq = $4, change_id = $5
WHERE msg.id = $1 AND msg.deleted_at IS NULL AND (
	(msg.sender_id = $2 AND EXISTS (SELECT 1 FROM members WHERE conversation_id = msg.conversation_id AND user_id = $2))
	OR EXISTS (SELECT 1 FROM users WHERE id = $2 AND is_admin))
RETURNING msg.id, msg.conversation_id, msg.seq, msg.event_seq, msg.sender_id, msg.body, msg.client_msg_id, msg.created_at, msg.edited_at, msg.deleted_at`

	selectAnyMessageSQL = `SELECT id, conversation_id, seq, event_seq, sender_id, body, client_msg_id, created_at, edited_at, deleted_at FROM messages WHERE id = $1`
)

type messageRow struct {
	ID             int64          `db:"id"`
	ConversationID int64          `db:"conversation_id"`
	Seq            int64          `db:"seq"`
	EventSeq       int64          `db:"event_seq"`
	SenderID       int64          `db:"sender_id"`
	Body           string         `db:"body"`
	ClientMsgID    sql.NullString `db:"client_msg_id"`
	CreatedAt      time.Time      `db:"created_at"`
	EditedAt       sql.NullTime   `db:"edited_at"`
	DeletedAt      sql.NullTime   `db:"deleted_at"`
}

func (r messageRow) toModel() model.Message {
	return model.Message{
		ID:             model.MessageID(r.ID),
		ConversationID: model.ConversationID(r.ConversationID),
		Seq:            r.Seq,
		EventSeq:       r.EventSeq,
		SenderID:       model.UserID(r.SenderID),
		Body:           r.Body,
		ClientMsgID:    r.ClientMsgID.String,
		CreatedAt:      r.CreatedAt.UTC(),
		EditedAt:       timePtr(r.EditedAt),
		DeletedAt:      timePtr(r.DeletedAt),
	}
}

// queryMessages runs stmt, which selects messageRow's columns in order, and
// scans up to n rows. It is the history path's sqlx.Select without the
// reflection, which costs more than the scanning itself.
func queryMessages(ctx context.Context, stmt *sqlx.Stmt, n int, args ...any) ([]messageRow, error) {
	rs, err := stmt.QueryContext(hot(ctx), args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	rows := make([]messageRow, 0, n)
	for rs.Next() {
		rows = append(rows, messageRow{})
		r := &rows[len(rows)-1]
		if err := rs.Scan(&r.ID, &r.ConversationID, &r.Seq, &r.EventSeq, &r.SenderID, &r.Body, &r.ClientMsgID,
			&r.CreatedAt, &r.EditedAt, &r.DeletedAt); err != nil {
			return nil, err
		}
	}
	return rows, rs.Err()
}

func toModelMessages(rows []messageRow) []model.Message {
	ms := make([]model.Message, len(rows))
	for i, r := range rows {
		ms[i] = r.toModel()
	}
	return ms
}

var errMessageNotFound = notFound("Message")

// CreateMessage stores m (ConversationID, SenderID, Body and ClientMsgID set;
// an empty ClientMsgID is stored as NULL) with the conversation's next seq
// and next event_seq, filling in the rest, and moves the sender's read
// marker to it. If m.ClientMsgID was already used by this sender in
// this conversation, it fills m with that message instead and created is
// false. Returns ENotFound unless the sender is a member. Concurrent calls
// are stored together, in one transaction (see postbatch.go); each returns
// once its message is committed.
func (s *Store) CreateMessage(ctx context.Context, m *model.Message) (created bool, err error) {
	return s.PostMessage(ctx, m, nil)
}

// PostMessage is CreateMessage, and once m is committed (and only if it
// was created) it calls announce(m) before returning. announce is called
// from one goroutine at a time, for the messages of this Store in the order
// they were committed, so in seq order within each conversation: announce
// should publish and not block for long, since later messages wait for it.
// ctx is not used to cancel: once queued, the message is stored.
func (s *Store) PostMessage(_ context.Context, m *model.Message, announce func(model.Message)) (created bool, err error) {
	p := &post{m: m, announce: announce, done: make(chan struct{})}
	s.postMessage(p)
	return p.created, p.err
}

// ListMessages returns a page of f.Limit messages (15 when zero, at most
// model.MaxPageLimit), oldest first, and whether more exist in the direction
// paged: by default the latest; with f.Before the newest of those with a
// smaller seq; with f.After the oldest of those with a greater seq. Returns
// ENotFound unless actor is a member, EInvalid if both Before and After are
// set.
func (s *Store) ListMessages(ctx context.Context, actor model.UserID, f model.HistoryFilter) ([]model.Message, bool, error) {
	limit := pageLimit(f.Limit)
	var rows []messageRow
	var err error
	switch {
	case f.Before != nil && f.After != nil:
		return nil, false, model.FieldError("before", "cannot be used with after")
	case f.Before != nil:
		rows, err = queryMessages(ctx, s.beforeMessages, limit+1, f.ConversationID, actor, limit+1, *f.Before)
	case f.After != nil:
		rows, err = queryMessages(ctx, s.afterMessages, limit+1, f.ConversationID, actor, limit+1, *f.After)
	default:
		rows, err = queryMessages(ctx, s.latestMessages, limit+1, f.ConversationID, actor, limit+1)
	}
	if err != nil {
		return nil, false, fmt.Errorf("list messages: %w", translate(err))
	}
	if len(rows) == 0 {
		var member bool
		if err := sqlx.GetContext(ctx, s.db, &member, memberSQL, f.ConversationID, actor); err != nil {
			return nil, false, fmt.Errorf("list messages: %w", translate(err))
		}
		if !member {
			return nil, false, errConversationNotFound
		}
		return []model.Message{}, false, nil
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	if f.After == nil {
		slices.Reverse(rows)
	}
	return toModelMessages(rows), more, nil
}

// GetMessage returns message id. Returns ENotFound unless actor is a member
// of its conversation.
func (s *Store) GetMessage(ctx context.Context, actor model.UserID, id model.MessageID) (model.Message, error) {
	var row messageRow
	err := sqlx.GetContext(ctx, s.db, &row, selectMessageSQL, id, actor)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return model.Message{}, errMessageNotFound
	case err != nil:
		return model.Message{}, fmt.Errorf("get message: %w", translate(err))
	}
	return row.toModel(), nil
}

// GetMessages returns those of ids that actor may read, in ascending id
// order, in one query; others are silently left out.
func (s *Store) GetMessages(ctx context.Context, actor model.UserID, ids []model.MessageID) ([]model.Message, error) {
	if len(ids) == 0 {
		return []model.Message{}, nil
	}
	raw := make([]int64, len(ids))
	for i, id := range ids {
		raw[i] = int64(id)
	}
	var rows []messageRow
	if err := sqlx.SelectContext(ctx, s.db, &rows, selectMessagesSQL, pq.Array(raw), actor); err != nil {
		return nil, fmt.Errorf("get messages: %w", translate(err))
	}
	return toModelMessages(rows), nil
}

// UpdateMessage replaces the body and sets EditedAt, as the conversation's
// next change. Returns ENotFound unless actor is a member, EForbidden unless
// actor sent it, EConflict if it was deleted.
func (s *Store) UpdateMessage(ctx context.Context, actor model.UserID, id model.MessageID, body string) (model.Message, error) {
	m, changed, err := s.changeMessage(ctx, actor, id, false, func(tx *sqlx.Tx, eventSeq, changeID int64) (messageRow, error) {
		var row messageRow
		err := tx.GetContext(ctx, &row, updateMessageSQL, id, actor, body, s.now(), eventSeq, changeID)
		return row, err
	})
	if err != nil || changed {
		return m, err
	}
	// Nothing changed: find out why.
	m, err = s.GetMessage(ctx, actor, id)
	switch {
	case err != nil:
		return model.Message{}, err
	case m.SenderID != actor:
		return model.Message{}, &model.Error{Code: model.EForbidden, Message: "Only the sender may edit a message."}
	}
	// The sender may see it, so it was deleted (or the sender left and came
	// back in between; report it as deleted, the likelier).
	return model.Message{}, &model.Error{Code: model.EConflict, Message: "The message was deleted."}
}

// DeleteMessage removes the body and sets DeletedAt, as the conversation's
// next change; the seq stays. Deleting twice is not an error: the second
// time changes nothing and returns the message as the first left it.
// Returns ENotFound unless actor is a member or an admin, EForbidden unless
// actor sent it or is an admin.
func (s *Store) DeleteMessage(ctx context.Context, actor model.UserID, id model.MessageID) (model.Message, error) {
	m, changed, err := s.changeMessage(ctx, actor, id, true, func(tx *sqlx.Tx, eventSeq, changeID int64) (messageRow, error) {
		var row messageRow
		err := tx.GetContext(ctx, &row, deleteMessageSQL, id, actor, s.now(), eventSeq, changeID)
		return row, err
	})
	if err != nil || changed {
		return m, err
	}
	// Nothing changed: deleted already, or actor may not delete it.
	var row messageRow
	err = sqlx.GetContext(ctx, s.db, &row, selectAnyMessageSQL, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return model.Message{}, errMessageNotFound
	case err != nil:
		return model.Message{}, fmt.Errorf("delete message: %w", translate(err))
	}
	m = row.toModel()
	u, err := s.GetUser(ctx, actor)
	if err != nil {
		return model.Message{}, fmt.Errorf("delete message: %w", err)
	}
	if !u.IsAdmin {
		if _, err := s.GetMessage(ctx, actor, id); err != nil {
			return model.Message{}, err // not a member: not found
		}
		if m.SenderID != actor {
			return model.Message{}, &model.Error{Code: model.EForbidden, Message: "Only the sender or an admin may delete a message."}
		}
	}
	if m.DeletedAt == nil { // undeletable now, though it was a moment ago: the sender left
		return model.Message{}, errMessageNotFound
	}
	return m, nil
}

// changeMessage numbers a change to message id and makes it with apply, in
// one transaction (see bumpChangeSQL). changed is false, with no error, when
// actor may not change messages in its conversation (a member, or an admin
// if admins are allowed) or apply changed no row; the caller then finds out
// why.
func (s *Store) changeMessage(ctx context.Context, actor model.UserID, id model.MessageID, adminsToo bool,
	apply func(tx *sqlx.Tx, eventSeq, changeID int64) (messageRow, error)) (m model.Message, changed bool, err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return model.Message{}, false, fmt.Errorf("change message: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var eventSeq, changeID int64
	err = tx.QueryRowxContext(ctx, bumpChangeSQL, id, actor, adminsToo).Scan(&eventSeq, &changeID)
	if errors.Is(err, sql.ErrNoRows) {
		return model.Message{}, false, nil
	} else if err != nil {
		return model.Message{}, false, fmt.Errorf("change message: number it: %w", translate(err))
	}
	row, err := apply(tx, eventSeq, changeID)
	if errors.Is(err, sql.ErrNoRows) {
		return model.Message{}, false, nil // the rollback returns the number
	} else if err != nil {
		return model.Message{}, false, fmt.Errorf("change message: %w", translate(err))
	}
	if err := tx.Commit(); err != nil {
		return model.Message{}, false, fmt.Errorf("change message: commit: %w", translate(err))
	}
	return row.toModel(), true, nil
}
