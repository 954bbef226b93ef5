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
	insertSessionSQL = `WITH s AS (
	INSERT INTO sessions (user_id, created_at) VALUES ($1, $2) RETURNING id
)
INSERT INTO refresh_tokens (hash, session_id, expires_at)
SELECT $3, s.id, $4 FROM s
RETURNING session_id`

	// lockRefreshTokenSQL locks the token row so that two rotations of one
	// token are serialised: the second sees the first's used_at.
	lockRefreshTokenSQL = `SELECT t.session_id, t.expires_at, t.used_at, s.user_id, s.revoked_at
FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
WHERE t.hash = $1
FOR UPDATE OF t`

	useRefreshTokenSQL = `UPDATE refresh_tokens SET used_at = $2 WHERE hash = $1`

	insertRefreshTokenSQL = `INSERT INTO refresh_tokens (hash, session_id, expires_at) VALUES ($1, $2, $3)`

	revokeSessionSQL = `UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`

	revokeSessionByTokenSQL = `UPDATE sessions s SET revoked_at = coalesce(s.revoked_at, $2)
FROM refresh_tokens t
WHERE t.hash = $1 AND t.session_id = s.id AND t.expires_at > $2
RETURNING s.id, s.user_id`

	sessionActiveSQL = `SELECT revoked_at IS NULL FROM sessions WHERE id = $1`
)

// errBadRefreshToken is what every refresh failure looks like to the client:
// it must not learn which check failed.
var errBadRefreshToken = &model.Error{Code: model.EUnauthenticated, Message: "The refresh token is invalid or expired."}

// CreateSession starts a login for user with its first refresh token.
// Returns ENotFound if there is no such user.
func (s *Store) CreateSession(ctx context.Context, user model.UserID, first model.RefreshToken) (model.SessionID, error) {
	var id int64
	err := sqlx.GetContext(ctx, s.db, &id, insertSessionSQL, user, s.now(), first.Hash, first.ExpiresAt.UTC())
	if err != nil {
		return 0, userError("create session", err)
	}
	return model.SessionID(id), nil
}

// RotateRefreshToken marks the token with hash old as used and stores next in
// the same session, returning the session's user. Returns EUnauthenticated if
// old is unknown, expired (by Store.Now), or its session revoked; if old was
// already used, it also revokes the whole session, because reuse means the
// token leaked, and then returns that session and its user along with the
// error, so the caller can end what the session still has open.
func (s *Store) RotateRefreshToken(ctx context.Context, old []byte, next model.RefreshToken) (model.UserID, model.SessionID, error) {
	now := s.now()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("rotate refresh token: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	var row struct {
		SessionID int64        `db:"session_id"`
		ExpiresAt time.Time    `db:"expires_at"`
		UsedAt    sql.NullTime `db:"used_at"`
		UserID    int64        `db:"user_id"`
		RevokedAt sql.NullTime `db:"revoked_at"`
	}
	err = tx.GetContext(ctx, &row, lockRefreshTokenSQL, old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, 0, errBadRefreshToken
	case err != nil:
		return 0, 0, fmt.Errorf("rotate refresh token: %w", translate(err))
	case row.RevokedAt.Valid:
		return 0, 0, errBadRefreshToken
	case row.UsedAt.Valid:
		if _, err := tx.ExecContext(ctx, revokeSessionSQL, row.SessionID, now); err != nil {
			return 0, 0, fmt.Errorf("revoke reused session: %w", translate(err))
		}
		if err := tx.Commit(); err != nil {
			return 0, 0, fmt.Errorf("revoke reused session: %w", err)
		}
		return model.UserID(row.UserID), model.SessionID(row.SessionID), errBadRefreshToken
	case !now.Before(row.ExpiresAt):
		return 0, 0, errBadRefreshToken
	}

	if _, err := tx.ExecContext(ctx, useRefreshTokenSQL, old, now); err != nil {
		return 0, 0, fmt.Errorf("rotate refresh token: %w", translate(err))
	}
	if _, err := tx.ExecContext(ctx, insertRefreshTokenSQL, next.Hash, row.SessionID, next.ExpiresAt.UTC()); err != nil {
		return 0, 0, fmt.Errorf("rotate refresh token: %w", translate(err))
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("rotate refresh token: %w", err)
	}
	return model.UserID(row.UserID), model.SessionID(row.SessionID), nil
}

// RevokeSessionByRefreshToken ends the login that the token with this hash
// belongs to, returning its user and id; revoking twice is not an error.
// Returns EUnauthenticated if the token is unknown or expired.
func (s *Store) RevokeSessionByRefreshToken(ctx context.Context, hash []byte) (model.UserID, model.SessionID, error) {
	var row struct {
		ID     int64 `db:"id"`
		UserID int64 `db:"user_id"`
	}
	err := sqlx.GetContext(ctx, s.db, &row, revokeSessionByTokenSQL, hash, s.now())
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, 0, errBadRefreshToken
	case err != nil:
		return 0, 0, fmt.Errorf("revoke session: %w", translate(err))
	}
	return model.UserID(row.UserID), model.SessionID(row.ID), nil
}

// SessionActive reports whether the session exists and has not been revoked.
func (s *Store) SessionActive(ctx context.Context, id model.SessionID) (bool, error) {
	var active bool
	err := sqlx.GetContext(ctx, s.db, &active, sessionActiveSQL, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("session active: %w", translate(err))
	}
	return active, nil
}
