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

const deviceColumns = `id, user_id, kind, endpoint, coalesce(p256dh, '') AS p256dh, coalesce(auth, '') AS auth, include_sender, created_at`

const (
	// upsertDeviceSQL registers endpoint $3 for user $1, moving it from
	// whichever account had it; inserted tells a new row from an update.
	// It inserts nothing when the user has $7 devices already, unless the
	// endpoint is one of them.
	upsertDeviceSQL = `INSERT INTO devices (user_id, kind, endpoint, p256dh, auth, include_sender, created_at)
SELECT $1, $2, $3, $4, $5, $6, $8
WHERE (SELECT count(*) FROM devices WHERE user_id = $1 AND endpoint <> $3) < $7
ON CONFLICT (endpoint) DO UPDATE SET user_id = EXCLUDED.user_id, kind = EXCLUDED.kind, p256dh = EXCLUDED.p256dh,
	auth = EXCLUDED.auth, include_sender = EXCLUDED.include_sender
RETURNING ` + deviceColumns + `, (xmax = 0) AS inserted`

	listDevicesSQL  = `SELECT ` + deviceColumns + ` FROM devices WHERE user_id = $1 ORDER BY id`
	selectDeviceSQL = `SELECT ` + deviceColumns + ` FROM devices WHERE id = $1`
	deleteDeviceSQL = `DELETE FROM devices WHERE id = $1 AND user_id = $2`

	// pushDevicesSQL: the devices of conversation $1's members other than
	// $2, the sender.
	pushDevicesSQL = `SELECT ` + deviceColumns + ` FROM devices
WHERE user_id IN (SELECT user_id FROM members WHERE conversation_id = $1 AND user_id <> $2)
ORDER BY user_id, id`

	// pushMessageSQL: the newest message of conversation $1, if $2 is a
	// member who has not read it and did not send it, with its sender's
	// display name.
	pushMessageSQL = `SELECT msg.id, msg.seq, u.display_name
FROM members m
JOIN conversations c ON c.id = m.conversation_id
JOIN messages msg ON msg.conversation_id = c.id AND msg.seq = c.last_seq
JOIN users u ON u.id = msg.sender_id
WHERE m.conversation_id = $1 AND m.user_id = $2 AND m.last_read_seq < c.last_seq AND msg.sender_id <> $2`
)

type deviceRow struct {
	ID            int64     `db:"id"`
	UserID        int64     `db:"user_id"`
	Kind          string    `db:"kind"`
	Endpoint      string    `db:"endpoint"`
	P256DH        string    `db:"p256dh"`
	Auth          string    `db:"auth"`
	IncludeSender bool      `db:"include_sender"`
	CreatedAt     time.Time `db:"created_at"`
}

func (r deviceRow) toModel() model.Device {
	return model.Device{
		ID: model.DeviceID(r.ID), UserID: model.UserID(r.UserID), Kind: model.DeviceKind(r.Kind),
		Endpoint: r.Endpoint, P256DH: r.P256DH, Auth: r.Auth, IncludeSender: r.IncludeSender,
		CreatedAt: r.CreatedAt.UTC(),
	}
}

var errDeviceNotFound = notFound("Device")

// CreateDevice registers d (UserID, Kind, Endpoint, the keys and
// IncludeSender set; the caller has validated it) and returns it stored.
// An endpoint registered already, by this user or another, is updated and
// moved to d.UserID: created is then false. Returns EConflict if the user
// has model.MaxDevicesPerUser devices already.
func (s *Store) CreateDevice(ctx context.Context, d model.Device) (stored model.Device, created bool, err error) {
	var row struct {
		deviceRow
		Inserted bool `db:"inserted"`
	}
	err = sqlx.GetContext(ctx, s.db, &row, upsertDeviceSQL, d.UserID, d.Kind, d.Endpoint,
		nullString(d.P256DH), nullString(d.Auth), d.IncludeSender, model.MaxDevicesPerUser, s.now())
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return model.Device{}, false, &model.Error{Code: model.EConflict,
			Message: fmt.Sprintf("You have %d devices already: remove one first.", model.MaxDevicesPerUser)}
	case err != nil:
		return model.Device{}, false, fmt.Errorf("create device: %w", translate(err))
	}
	return row.toModel(), row.Inserted, nil
}

// ListDevices returns user's devices, oldest first: at most
// model.MaxDevicesPerUser.
func (s *Store) ListDevices(ctx context.Context, user model.UserID) ([]model.Device, error) {
	return s.selectDevices(ctx, "list devices", listDevicesSQL, user)
}

// GetDevice returns device id, whoever's it is. Returns ENotFound if there
// is none.
func (s *Store) GetDevice(ctx context.Context, id model.DeviceID) (model.Device, error) {
	var row deviceRow
	err := sqlx.GetContext(ctx, s.db, &row, selectDeviceSQL, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return model.Device{}, errDeviceNotFound
	case err != nil:
		return model.Device{}, fmt.Errorf("get device: %w", translate(err))
	}
	return row.toModel(), nil
}

// DeleteDevice removes user's device id. Returns ENotFound unless it is
// user's.
func (s *Store) DeleteDevice(ctx context.Context, user model.UserID, id model.DeviceID) error {
	res, err := s.db.ExecContext(ctx, deleteDeviceSQL, id, user)
	if err != nil {
		return fmt.Errorf("delete device: %w", translate(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete device: %w", err)
	} else if n == 0 {
		return errDeviceNotFound
	}
	return nil
}

// ListPushDevices returns the devices of conversation's members other than
// sender, by user.
func (s *Store) ListPushDevices(ctx context.Context, conversation model.ConversationID, sender model.UserID) ([]model.Device, error) {
	return s.selectDevices(ctx, "list push devices", pushDevicesSQL, conversation, sender)
}

func (s *Store) selectDevices(ctx context.Context, op, query string, args ...any) ([]model.Device, error) {
	var rows []deviceRow
	if err := sqlx.SelectContext(ctx, s.db, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("%s: %w", op, translate(err))
	}
	ds := make([]model.Device, len(rows))
	for i, r := range rows {
		ds[i] = r.toModel()
	}
	return ds, nil
}

// GetPushMessage returns what a push to user about conversation says: its
// newest message, with the sender's display name. ok is false when there
// is nothing to push: user is no longer a member, has read it, or sent it.
func (s *Store) GetPushMessage(ctx context.Context, user model.UserID, conversation model.ConversationID) (pm model.PushMessage, ok bool, err error) {
	var row struct {
		ID         int64  `db:"id"`
		Seq        int64  `db:"seq"`
		SenderName string `db:"display_name"`
	}
	err = sqlx.GetContext(ctx, s.db, &row, pushMessageSQL, conversation, user)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return model.PushMessage{}, false, nil
	case err != nil:
		return model.PushMessage{}, false, fmt.Errorf("get push message: %w", translate(err))
	}
	return model.PushMessage{ConversationID: conversation, MessageID: model.MessageID(row.ID), Seq: row.Seq,
		SenderName: row.SenderName}, true, nil
}
