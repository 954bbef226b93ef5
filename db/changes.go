package db

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"

	"parley/model"
)

// The changes feed of a conversation is one range of messages_event_seq_key:
// each message carries the number of its latest change, so a message changed
// several times shows once, at its latest change, and none is ever missing.
// Numbers are taken in commit order (see createMessageSQL), so a page sees
// every change up to its last item, whatever commits while it is read.
const (
	// changesSQL: the first $3 changes numbered above $4, if $2 is a member.
	changesSQL = `SELECT event_seq, id, seq, edited_at IS NOT NULL AS edited, deleted_at IS NOT NULL AS deleted
FROM messages
WHERE conversation_id = $1 AND event_seq > $4
	AND EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2)
ORDER BY event_seq
LIMIT $3`
)

// ListChanges returns a page of f's conversation's changes feed, oldest
// first, and whether more follow. Returns ENotFound unless actor is a member.
func (s *Store) ListChanges(ctx context.Context, actor model.UserID, f model.ChangeFilter) ([]model.Change, bool, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = model.DefaultChangesLimit
	case limit > model.MaxChangesLimit:
		limit = model.MaxChangesLimit
	}
	rows, err := s.db.QueryContext(ctx, changesSQL, f.ConversationID, actor, limit+1, max(f.After, 0))
	if err != nil {
		return nil, false, fmt.Errorf("list changes: %w", translate(err))
	}
	defer rows.Close()
	changes := make([]model.Change, 0, min(limit+1, 64))
	for rows.Next() {
		var c model.Change
		var edited, deleted bool
		if err := rows.Scan(&c.EventSeq, &c.MessageID, &c.Seq, &edited, &deleted); err != nil {
			return nil, false, fmt.Errorf("list changes: %w", err)
		}
		c.Type = model.EventMessageCreated
		switch {
		case deleted:
			c.Type = model.EventMessageDeleted
		case edited:
			c.Type = model.EventMessageUpdated
		}
		changes = append(changes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("list changes: %w", translate(err))
	}
	if len(changes) == 0 {
		var member bool
		if err := sqlx.GetContext(ctx, s.db, &member, memberSQL, f.ConversationID, actor); err != nil {
			return nil, false, fmt.Errorf("list changes: %w", translate(err))
		}
		if !member {
			return nil, false, errConversationNotFound
		}
		return changes, false, nil
	}
	more := len(changes) > limit
	if more {
		changes = changes[:limit]
	}
	return changes, more, nil
}

// Replaying what an event stream missed works in change ids (migration
// 0002), the stream's cursor being the highest message id it announced.
// Posts, edits and deletes draw theirs from the message id sequence; within
// a conversation they rise with event_seq, so a conversation's changes
// since the cursor are the last few of its messages_event_seq_key range.
// Joins and read markers, which are many and need no number of their own,
// take the sequence's last value instead: one at the cursor may have come
// just after it, so it is replayed too (a harmless repeat at worst).
const (
	// replayMessagesSQL: the messages whose latest change is past $2, in
	// up to $3 conversations of $1 that changed since, and of each only the
	// $3 changed last, which is enough: if all of those are past $2, there
	// are more than $3 to replay, and the caller gives up.
	replayMessagesSQL = `WITH changed AS (
	SELECT c.id FROM members m JOIN conversations c ON c.id = m.conversation_id
	WHERE m.user_id = $1 AND c.last_change_id > $2
	LIMIT $3
)
SELECT x.change_id, x.id, x.conversation_id, x.seq, x.event_seq, x.edited_at IS NOT NULL AS edited, x.deleted_at IS NOT NULL AS deleted
FROM changed CROSS JOIN LATERAL (
	SELECT id, conversation_id, seq, event_seq, change_id, edited_at, deleted_at FROM messages
	WHERE conversation_id = changed.id
	ORDER BY event_seq DESC
	LIMIT $3
) x
WHERE x.change_id > $2
ORDER BY x.change_id`

	// replayMembershipsSQL: $1's memberships that began, or whose read
	// marker moved, at or after change $2.
	replayMembershipsSQL = `SELECT conversation_id, joined_change_id, read_change_id, last_read_seq FROM members
WHERE user_id = $1 AND (joined_change_id >= $2 OR read_change_id >= $2)
ORDER BY conversation_id`
)

// ListChangesSince returns, as events ordered by change, what happened after
// change id after that actor can be told again: the latest change of each
// message changed since (created, updated or deleted) in the conversations
// actor is a member of now, the conversations actor joined since
// (conversation.joined) and the read markers actor moved since
// (read.updated). It returns at most limit events; more reports that there
// were more (and the events are then incomplete). Leaving, and other
// members' joining and leaving, leave nothing to replay.
func (s *Store) ListChangesSince(ctx context.Context, actor model.UserID, after model.MessageID, limit int) ([]model.Event, bool, error) {
	type replayed struct {
		change int64
		ev     model.Event
	}
	var out []replayed
	rows, err := s.db.QueryContext(ctx, replayMessagesSQL, actor, max(after, 0), limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("list changes since: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var m model.Message
		var change int64
		var edited, deleted bool
		if err := rows.Scan(&change, &m.ID, &m.ConversationID, &m.Seq, &m.EventSeq, &edited, &deleted); err != nil {
			return nil, false, fmt.Errorf("list changes since: %w", err)
		}
		ev := model.MessageCreated(m.ConversationID, m.ID, m.Seq, m.EventSeq)
		switch {
		case deleted:
			ev.Type = model.EventMessageDeleted
		case edited:
			ev.Type = model.EventMessageUpdated
		}
		out = append(out, replayed{change, ev})
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("list changes since: %w", translate(err))
	}
	if len(out) > limit {
		return nil, true, nil
	}

	var ms []struct {
		Conv    model.ConversationID `db:"conversation_id"`
		Joined  int64                `db:"joined_change_id"`
		Read    int64                `db:"read_change_id"`
		ReadSeq int64                `db:"last_read_seq"`
	}
	if err := sqlx.SelectContext(ctx, s.db, &ms, replayMembershipsSQL, actor, max(after, 0)); err != nil {
		return nil, false, fmt.Errorf("list changes since: %w", translate(err))
	}
	for _, m := range ms {
		if m.Joined >= int64(after) {
			out = append(out, replayed{m.Joined, model.ConversationJoined(actor, m.Conv)})
		}
		if m.Read >= int64(after) && m.ReadSeq > 0 {
			out = append(out, replayed{m.Read, model.ReadUpdated(actor, m.Conv, m.ReadSeq)})
		}
	}
	if len(out) > limit {
		return nil, true, nil
	}
	slices.SortStableFunc(out, func(a, b replayed) int { return cmp.Compare(a.change, b.change) })
	events := make([]model.Event, len(out))
	for i, r := range out {
		events[i] = r.ev
	}
	return events, false, nil
}
