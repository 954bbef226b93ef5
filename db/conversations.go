package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"parley/model"
)

// conversationColumns select a conversation as the member m sees it. The
// unread count is arithmetic on gapless seqs: the messages after the read
// marker, less the deleted ones among them (one probe of the small
// messages_deleted_idx). None of them is the member's own, since posting
// moves the poster's marker (createMessageSQL). So its cost does not grow
// with the messages, read or unread.
const conversationColumns = `c.id, c.kind, coalesce(c.name, '') AS name, c.topic, c.created_at, c.last_seq,
	c.last_event_seq, c.last_message_at, m.last_read_seq,
	c.retention_days, c.history_start_seq - 1 AS expired_seq,
	c.last_seq - greatest(m.last_read_seq, c.history_start_seq - 1) - (SELECT count(*) FROM messages msg
		WHERE msg.conversation_id = c.id AND msg.seq > m.last_read_seq AND msg.deleted_at IS NOT NULL) AS unread_count`

const (
	// listConversationsSQL pages by conversation id, along
	// members_user_conversation_idx: $2 is the exclusive cursor, $3 the
	// page size.
	listConversationsSQL = `SELECT ` + conversationColumns + `
FROM members m JOIN conversations c ON c.id = m.conversation_id
WHERE m.user_id = $1 AND m.conversation_id > $2
ORDER BY m.conversation_id
LIMIT $3`

	selectConversationSQL = `SELECT ` + conversationColumns + `
FROM members m JOIN conversations c ON c.id = m.conversation_id
WHERE m.conversation_id = $1 AND m.user_id = $2`

	insertChannelSQL = `WITH c AS (
	INSERT INTO conversations (kind, name, topic, created_at, created_by) VALUES ('channel', $2, $3, $4, $1)
	RETURNING id, kind, name, topic, created_at, last_seq, last_event_seq, last_message_at, retention_days, history_start_seq
), m AS (
	INSERT INTO members (conversation_id, user_id, joined_at, joined_change_id)
	SELECT c.id, $1, $4, (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM messages_id_seq) FROM c
)
SELECT c.id, c.kind, c.name, c.topic, c.created_at, c.last_seq, c.last_event_seq, c.last_message_at,
	0 AS last_read_seq, c.retention_days, c.history_start_seq - 1 AS expired_seq, 0 AS unread_count FROM c`

	// listChannelsSQL: $2 is an escaped LIKE pattern ("%" matches all); $3
	// the exclusive cursor.
	listChannelsSQL = `SELECT c.id, c.name, c.topic, c.created_at,
	(SELECT count(*) FROM members WHERE conversation_id = c.id) AS member_count,
	EXISTS (SELECT 1 FROM members WHERE conversation_id = c.id AND user_id = $1) AS is_member
FROM conversations c
WHERE c.kind = 'channel' AND lower(c.name) LIKE lower($2) AND lower(c.name) > lower($3)
ORDER BY lower(c.name)
LIMIT $4`

	// joinChannelSQL starts the new member's read marker at the channel's
	// newest message: what was said before they joined is not unread.
	joinChannelSQL = `INSERT INTO members (conversation_id, user_id, joined_at, last_read_seq, joined_change_id)
SELECT c.id, $2, $3, c.last_seq, (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM messages_id_seq) FROM conversations c WHERE c.id = $1 AND c.kind = 'channel'
ON CONFLICT (conversation_id, user_id) DO NOTHING`

	leaveChannelSQL = `DELETE FROM members m USING conversations c
WHERE m.conversation_id = $1 AND m.user_id = $2 AND c.id = m.conversation_id AND c.kind = 'channel'`

	channelExistsSQL = `SELECT EXISTS (SELECT 1 FROM conversations WHERE id = $1 AND kind = 'channel')`

	userExistsSQL = `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`

	insertDirectSQL = `INSERT INTO conversations (kind, direct_key, created_at) VALUES ('direct', $1, $2)
ON CONFLICT (direct_key) DO NOTHING
RETURNING id`

	selectDirectSQL = `SELECT id FROM conversations WHERE direct_key = $1`

	// insertDirectMembersSQL adds both users; with one user (a note to
	// self) the second row is a no-op.
	insertDirectMembersSQL = `INSERT INTO members (conversation_id, user_id, joined_at, joined_change_id)
VALUES ($1, $2, $4, (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM messages_id_seq)), ($1, $3, $4, (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM messages_id_seq))
ON CONFLICT (conversation_id, user_id) DO NOTHING`

	// listMembersSQL pages the members after the lowercased username $3
	// ("" for the first page); it returns no rows unless $2 is a member.
	listMembersSQL = `SELECT u.id, u.username, u.display_name, u.is_admin, u.created_at, m.joined_at
FROM members m JOIN users u ON u.id = m.user_id
WHERE m.conversation_id = $1 AND lower(u.username) > $3
	AND EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2)
ORDER BY lower(u.username)
LIMIT $4`

	isMemberSQL = `SELECT EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2)`

	// markReadSQL does not write when the marker would not move.
	markReadSQL = `UPDATE members m SET last_read_seq = $3, read_change_id = (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM messages_id_seq)
FROM conversations c
WHERE m.conversation_id = $1 AND m.user_id = $2 AND c.id = m.conversation_id
	AND m.last_read_seq < $3 AND $3 <= c.last_seq`

	memberLastSeqSQL = `SELECT c.last_seq FROM members m JOIN conversations c ON c.id = m.conversation_id
WHERE m.conversation_id = $1 AND m.user_id = $2`

	conversationIDsSQL = `SELECT conversation_id FROM members WHERE user_id = $1 ORDER BY conversation_id`
	memberCountsSQL    = `SELECT conversation_id, count(*) FROM members WHERE conversation_id = ANY($1) GROUP BY conversation_id`
)

type conversationRow struct {
	ID            int64        `db:"id"`
	Kind          string       `db:"kind"`
	Name          string       `db:"name"`
	Topic         string       `db:"topic"`
	CreatedAt     time.Time    `db:"created_at"`
	LastSeq       int64        `db:"last_seq"`
	LastEventSeq  int64        `db:"last_event_seq"`
	LastMessageAt sql.NullTime `db:"last_message_at"`
	ReadSeq       int64        `db:"last_read_seq"`
	UnreadCount   int64        `db:"unread_count"`
	// Retention (migration 0004).
	RetentionDays sql.NullInt32 `db:"retention_days"`
	ExpiredSeq    int64         `db:"expired_seq"`
}

func (r conversationRow) toModel() model.Conversation {
	return model.Conversation{
		ID:            model.ConversationID(r.ID),
		Kind:          model.Kind(r.Kind),
		Name:          r.Name,
		Topic:         r.Topic,
		CreatedAt:     r.CreatedAt.UTC(),
		LastSeq:       r.LastSeq,
		LastEventSeq:  r.LastEventSeq,
		LastMessageAt: timePtr(r.LastMessageAt),
		ReadSeq:       r.ReadSeq,
		UnreadCount:   r.UnreadCount,

		RetentionDays: intPtr(r.RetentionDays),
		ExpiredSeq:    r.ExpiredSeq,
	}
}

// intPtr returns nil for NULL.
func intPtr(n sql.NullInt32) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int32)
	return &v
}

var errConversationNotFound = notFound("Conversation")

// CreateChannel creates a channel with actor as its first member. Returns
// EInvalid naming "name" or "topic" if they are malformed, EConflict if the
// name is taken, whatever its case.
func (s *Store) CreateChannel(ctx context.Context, actor model.UserID, c model.NewChannel) (model.Conversation, error) {
	if err := c.Normalize(); err != nil {
		return model.Conversation{}, err
	}
	var row conversationRow
	err := sqlx.GetContext(ctx, s.db, &row, insertChannelSQL, actor, c.Name, c.Topic, s.now())
	if err != nil {
		err = translate(err)
		if model.ErrorCode(err) == model.EConflict {
			return model.Conversation{}, &model.Error{Code: model.EConflict, Message: "A channel with that name exists."}
		}
		return model.Conversation{}, fmt.Errorf("create channel: %w", err)
	}
	return row.toModel(), nil
}

type channelRow struct {
	ID          int64     `db:"id"`
	Name        string    `db:"name"`
	Topic       string    `db:"topic"`
	CreatedAt   time.Time `db:"created_at"`
	MemberCount int64     `db:"member_count"`
	IsMember    bool      `db:"is_member"`
}

// ListChannels returns up to f.Limit channels (15 when zero, at most
// model.MaxPageLimit) whose name contains f.Query, ignoring case, ordered by
// lowercased name after f.After (a channel name in any case), and whether
// more follow.
func (s *Store) ListChannels(ctx context.Context, actor model.UserID, f model.ChannelFilter) ([]model.Channel, bool, error) {
	limit := pageLimit(f.Limit)
	var rows []channelRow
	err := sqlx.SelectContext(ctx, s.db, &rows, listChannelsSQL, actor, "%"+escapeLike(f.Query)+"%", f.After, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("list channels: %w", translate(err))
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	channels := make([]model.Channel, len(rows))
	for i, r := range rows {
		channels[i] = model.Channel{
			ID:          model.ConversationID(r.ID),
			Name:        r.Name,
			Topic:       r.Topic,
			CreatedAt:   r.CreatedAt.UTC(),
			MemberCount: r.MemberCount,
			IsMember:    r.IsMember,
		}
	}
	return channels, more, nil
}

// JoinChannel makes actor a member, with nothing unread yet, and reports
// whether this call added them: joining twice is not an error, and joined is
// then false. Returns ENotFound if id is not a channel.
func (s *Store) JoinChannel(ctx context.Context, actor model.UserID, id model.ConversationID) (c model.Conversation, joined bool, err error) {
	res, err := s.db.ExecContext(ctx, joinChannelSQL, id, actor, s.now())
	if err != nil {
		return model.Conversation{}, false, fmt.Errorf("join channel: %w", translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return model.Conversation{}, false, fmt.Errorf("join channel: %w", err)
	}
	c, err = s.getConversation(ctx, s.db, actor, id)
	if err != nil {
		return model.Conversation{}, false, fmt.Errorf("join channel: %w", err)
	}
	if c.Kind != model.KindChannel {
		return model.Conversation{}, false, notFound("Channel")
	}
	return c, n > 0, nil
}

// LeaveChannel ends actor's membership and reports whether this call ended
// it: leaving twice is not an error, and left is then false. Returns
// ENotFound if id is not a channel.
func (s *Store) LeaveChannel(ctx context.Context, actor model.UserID, id model.ConversationID) (left bool, err error) {
	res, err := s.db.ExecContext(ctx, leaveChannelSQL, id, actor)
	if err != nil {
		return false, fmt.Errorf("leave channel: %w", translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("leave channel: %w", err)
	}
	if n > 0 {
		return true, nil
	}
	var exists bool
	if err := sqlx.GetContext(ctx, s.db, &exists, channelExistsSQL, id); err != nil {
		return false, fmt.Errorf("leave channel: %w", translate(err))
	}
	if !exists {
		return false, notFound("Channel")
	}
	return false, nil
}

// directKey names the direct conversation between two users, whichever of
// them asks.
func directKey(a, b model.UserID) string {
	if a > b {
		a, b = b, a
	}
	return strconv.FormatInt(int64(a), 10) + ":" + strconv.FormatInt(int64(b), 10)
}

// GetOrCreateDirect returns the one direct conversation between actor and
// other, creating it with both as members if needed (created reports which).
// A user may talk to themself. Concurrent calls for one pair create one
// conversation. Returns ENotFound if other does not exist.
func (s *Store) GetOrCreateDirect(ctx context.Context, actor, other model.UserID) (model.Conversation, bool, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return model.Conversation{}, false, fmt.Errorf("get or create direct: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	var exists bool
	if err := tx.GetContext(ctx, &exists, userExistsSQL, other); err != nil {
		return model.Conversation{}, false, fmt.Errorf("get or create direct: %w", translate(err))
	}
	if !exists {
		return model.Conversation{}, false, notFound("User")
	}

	key, now := directKey(actor, other), s.now()
	var id int64
	created := true
	// If another transaction is inserting the same key, this waits for it
	// and then does nothing; the select then sees its committed row.
	err = tx.GetContext(ctx, &id, insertDirectSQL, key, now)
	if errors.Is(err, sql.ErrNoRows) {
		created = false
		err = tx.GetContext(ctx, &id, selectDirectSQL, key)
	}
	if err != nil {
		return model.Conversation{}, false, fmt.Errorf("get or create direct: %w", translate(err))
	}
	if created {
		if _, err := tx.ExecContext(ctx, insertDirectMembersSQL, id, actor, other, now); err != nil {
			return model.Conversation{}, false, fmt.Errorf("get or create direct: %w", translate(err))
		}
	}
	c, err := s.getConversation(ctx, tx, actor, model.ConversationID(id))
	if err != nil {
		return model.Conversation{}, false, fmt.Errorf("get or create direct: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return model.Conversation{}, false, fmt.Errorf("get or create direct: %w", err)
	}
	return c, created, nil
}

// ListConversations returns a page of f.Limit of the conversations actor
// is a member of (model.DefaultConversationLimit when zero, at most
// model.MaxConversationLimit), by ascending id after f.After, and whether
// more follow. Its cost depends on the page, not on how many conversations
// or messages there are.
func (s *Store) ListConversations(ctx context.Context, actor model.UserID, f model.ConversationFilter) ([]model.Conversation, bool, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = model.DefaultConversationLimit
	case limit > model.MaxConversationLimit:
		limit = model.MaxConversationLimit
	}
	var rows []conversationRow
	if err := sqlx.SelectContext(ctx, s.db, &rows, listConversationsSQL, actor, max(f.After, 0), limit+1); err != nil {
		return nil, false, fmt.Errorf("list conversations: %w", translate(err))
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	cs := make([]model.Conversation, len(rows))
	for i, r := range rows {
		cs[i] = r.toModel()
	}
	return cs, more, nil
}

// GetConversation returns conversation id as actor sees it. Returns ENotFound
// unless actor is a member.
func (s *Store) GetConversation(ctx context.Context, actor model.UserID, id model.ConversationID) (model.Conversation, error) {
	c, err := s.getConversation(ctx, s.db, actor, id)
	if err != nil {
		return model.Conversation{}, fmt.Errorf("get conversation: %w", err)
	}
	return c, nil
}

func (s *Store) getConversation(ctx context.Context, q sqlx.QueryerContext, actor model.UserID, id model.ConversationID) (model.Conversation, error) {
	var row conversationRow
	err := sqlx.GetContext(ctx, q, &row, selectConversationSQL, id, actor)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return model.Conversation{}, errConversationNotFound
	case err != nil:
		return model.Conversation{}, translate(err)
	}
	return row.toModel(), nil
}

type memberRow struct {
	userRow
	JoinedAt time.Time `db:"joined_at"`
}

// ListMembers returns up to f.Limit members (15 when zero, at most
// model.MaxPageLimit) ordered by lowercased username after f.After, and
// whether more follow. Returns ENotFound unless actor is a member.
func (s *Store) ListMembers(ctx context.Context, actor model.UserID, id model.ConversationID, f model.MemberFilter) ([]model.Member, bool, error) {
	limit := pageLimit(f.Limit)
	var rows []memberRow
	if err := sqlx.SelectContext(ctx, s.db, &rows, listMembersSQL, id, actor, strings.ToLower(f.After), limit+1); err != nil {
		return nil, false, fmt.Errorf("list members: %w", translate(err))
	}
	if len(rows) == 0 { // past the last page, or not a member at all
		var member bool
		if err := sqlx.GetContext(ctx, s.db, &member, isMemberSQL, id, actor); err != nil {
			return nil, false, fmt.Errorf("list members: %w", translate(err))
		}
		if !member {
			return nil, false, errConversationNotFound
		}
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	ms := make([]model.Member, len(rows))
	for i, r := range rows {
		ms[i] = model.Member{User: r.toModel(), JoinedAt: r.JoinedAt.UTC()}
	}
	return ms, more, nil
}

// MarkRead moves actor's read marker forward to seq, never back, and reports
// whether it moved: marking a seq at or before the marker changes nothing.
// Returns ENotFound unless actor is a member, EInvalid (field "seq") if seq
// is negative or beyond the conversation's last seq.
func (s *Store) MarkRead(ctx context.Context, actor model.UserID, id model.ConversationID, seq int64) (moved bool, err error) {
	if seq < 0 {
		return false, model.FieldError("seq", "must not be negative")
	}
	res, err := s.db.ExecContext(ctx, markReadSQL, id, actor, seq)
	if err != nil {
		return false, fmt.Errorf("mark read: %w", translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("mark read: %w", err)
	}
	if n > 0 {
		return true, nil
	}
	// Nothing moved: not a member, seq too far, or the marker is already there.
	var lastSeq int64
	err = sqlx.GetContext(ctx, s.db, &lastSeq, memberLastSeqSQL, id, actor)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, errConversationNotFound
	case err != nil:
		return false, fmt.Errorf("mark read: %w", translate(err))
	case seq > lastSeq:
		return false, model.FieldError("seq", "must not be beyond the conversation's last message")
	}
	return false, nil
}

// MemberCounts returns how many members each of convs has, leaving out
// those with none and those that do not exist.
func (s *Store) MemberCounts(ctx context.Context, convs []model.ConversationID) (map[model.ConversationID]int, error) {
	ids := make(pq.Int64Array, len(convs))
	for i, c := range convs {
		ids[i] = int64(c)
	}
	rows, err := s.db.QueryContext(ctx, memberCountsSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("member counts: %w", translate(err))
	}
	defer rows.Close()
	counts := make(map[model.ConversationID]int, len(convs))
	for rows.Next() {
		var (
			id model.ConversationID
			n  int
		)
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("member counts: %w", err)
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("member counts: %w", translate(err))
	}
	return counts, nil
}

// ConversationIDs returns the ids of every conversation user is a member
// of, in ascending order; none is not an error. It reads one index and is
// what the notify Hub asks when a connection opens.
func (s *Store) ConversationIDs(ctx context.Context, user model.UserID) ([]model.ConversationID, error) {
	var ids []model.ConversationID
	if err := sqlx.SelectContext(ctx, s.db, &ids, conversationIDsSQL, user); err != nil {
		return nil, fmt.Errorf("conversation ids: %w", translate(err))
	}
	if ids == nil {
		ids = []model.ConversationID{}
	}
	return ids, nil
}
