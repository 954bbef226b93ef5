package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"parley/model"
)

const (
	// setRetentionSQL changes nothing unless $1 is a channel that $2
	// created and is still a member of, or $2 is an admin.
	setRetentionSQL = `UPDATE conversations c SET retention_days = $3
WHERE c.id = $1 AND c.kind = 'channel'
	AND ((c.created_by = $2 AND EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2))
		OR EXISTS (SELECT 1 FROM users WHERE id = $2 AND is_admin))`

	// selectChannelAsSQL: channel $1 as $2 sees it, if a member or an
	// admin (who sees nothing unread).
	selectChannelAsSQL = `SELECT ` + conversationColumns + `
FROM conversations c CROSS JOIN LATERAL (
	SELECT coalesce(mb.last_read_seq, c.last_seq) AS last_read_seq, mb.user_id
	FROM (SELECT 1) one LEFT JOIN members mb ON mb.conversation_id = c.id AND mb.user_id = $2
) m
WHERE c.id = $1 AND c.kind = 'channel'
	AND (m.user_id IS NOT NULL OR EXISTS (SELECT 1 FROM users WHERE id = $2 AND is_admin))`

	// retentionChannelsSQL: channels with a retention, after id $1.
	retentionChannelsSQL = `SELECT id, retention_days FROM conversations
WHERE retention_days IS NOT NULL AND id > $1 ORDER BY id LIMIT $2`

	// expiryBatchSQL: the oldest $2 messages of conversation $1 still kept,
	// and whether each is older than $3.
	expiryBatchSQL = `SELECT msg.seq, msg.created_at < $3 AS expired FROM messages msg
WHERE msg.conversation_id = $1 AND msg.seq >= (SELECT history_start_seq FROM conversations WHERE id = $1)
ORDER BY msg.seq LIMIT $2`

	expireMessagesSQL = `DELETE FROM messages WHERE conversation_id = $1 AND seq < $2`

	// moveHistoryStartSQL runs last in its transaction, so the
	// conversation's row lock, which posters need too, is held only for the
	// commit.
	moveHistoryStartSQL = `UPDATE conversations SET history_start_seq = $2 WHERE id = $1 AND history_start_seq < $2`
)

// SetChannelRetention sets how many days channel id keeps messages; nil
// keeps them forever. Returns ENotFound if id is not a channel actor is a
// member of (admins: any channel), EForbidden unless actor created it or is
// an admin, EInvalid (field "retention_days") if days is outside 1 to
// model.MaxRetentionDays.
func (s *Store) SetChannelRetention(ctx context.Context, actor model.UserID, id model.ConversationID, days *int) (model.Conversation, error) {
	if days != nil && (*days < 1 || *days > model.MaxRetentionDays) {
		return model.Conversation{}, model.FieldError("retention_days", fmt.Sprintf("must be 1 to %d, or null to keep messages forever", model.MaxRetentionDays))
	}
	var arg sql.NullInt32
	if days != nil {
		arg = sql.NullInt32{Int32: int32(*days), Valid: true}
	}
	res, err := s.db.ExecContext(ctx, setRetentionSQL, id, actor, arg)
	if err != nil {
		return model.Conversation{}, fmt.Errorf("set channel retention: %w", translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return model.Conversation{}, fmt.Errorf("set channel retention: %w", err)
	}
	var row conversationRow
	err = sqlx.GetContext(ctx, s.db, &row, selectChannelAsSQL, id, actor)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return model.Conversation{}, notFound("Channel")
	case err != nil:
		return model.Conversation{}, fmt.Errorf("set channel retention: %w", translate(err))
	case n == 0:
		return model.Conversation{}, &model.Error{Code: model.EForbidden, Message: "Only the channel's creator or an admin may change its retention."}
	}
	return row.toModel(), nil
}

// ListRetentionChannels returns up to limit channels with a retention, by
// id, after id after.
func (s *Store) ListRetentionChannels(ctx context.Context, after model.ConversationID, limit int) ([]model.ChannelRetention, error) {
	var rows []struct {
		ID   int64 `db:"id"`
		Days int   `db:"retention_days"`
	}
	if err := sqlx.SelectContext(ctx, s.db, &rows, retentionChannelsSQL, after, limit); err != nil {
		return nil, fmt.Errorf("list retention channels: %w", translate(err))
	}
	cs := make([]model.ChannelRetention, len(rows))
	for i, r := range rows {
		cs[i] = model.ChannelRetention{ID: model.ConversationID(r.ID), Days: r.Days}
	}
	return cs, nil
}

// ExpireMessages deletes, in one short transaction, conversation's oldest
// messages created before cutoff, at most batch of them, and moves its
// history_start_seq past them. Deleting stops at the first message that is
// not expired, so the history kept always runs without a hole from
// history_start_seq to last_seq, and a message that commits meanwhile is
// never touched: posting goes on. It returns how many it deleted (0: none
// left to delete) and the new history_start_seq.
func (s *Store) ExpireMessages(ctx context.Context, conversation model.ConversationID, cutoff time.Time, batch int) (deleted int64, startSeq int64, err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("expire messages: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	var rows []struct {
		Seq     int64 `db:"seq"`
		Expired bool  `db:"expired"`
	}
	if err := sqlx.SelectContext(ctx, tx, &rows, expiryBatchSQL, conversation, batch, cutoff); err != nil {
		return 0, 0, fmt.Errorf("expire messages: %w", translate(err))
	}
	for _, r := range rows {
		if !r.Expired {
			break
		}
		startSeq = r.Seq + 1
	}
	if startSeq == 0 {
		return 0, 0, nil
	}
	res, err := tx.ExecContext(ctx, expireMessagesSQL, conversation, startSeq)
	if err != nil {
		return 0, 0, fmt.Errorf("expire messages: %w", translate(err))
	}
	if deleted, err = res.RowsAffected(); err != nil {
		return 0, 0, fmt.Errorf("expire messages: %w", err)
	}
	if _, err := tx.ExecContext(ctx, moveHistoryStartSQL, conversation, startSeq); err != nil {
		return 0, 0, fmt.Errorf("expire messages: %w", translate(err))
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("expire messages: %w", translate(err))
	}
	return deleted, startSeq, nil
}
