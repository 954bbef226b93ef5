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
	INSERT INTO sessions (user_id, created_at, expires_at) VALUES ($1, $2, $3) RETURNING id, expires_at
)
INSERT INTO refresh_tokens (hash, session_id, expires_at)
SELECT $4, s.id, least($5, s.expires_at) FROM s
RETURNING session_id`

	// lockRefreshTokenSQL locks the token row so that two rotations of one
	// token are serialised: the second sees the first's used_at.
	lockRefreshTokenSQL = `SELECT t.session_id, t.expires_at, t.used_at, t.replaced_by, s.user_id, s.revoked_at,
	s.expires_at AS session_expires_at
FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
WHERE t.hash = $1
FOR UPDATE OF t`

	// lockReplacementSQL locks the token a rotation issued, so that it
	// cannot be used while a grace refresh is being decided on.
	lockReplacementSQL = `SELECT used_at IS NULL FROM refresh_tokens WHERE hash = $1 FOR UPDATE`

	useRefreshTokenSQL = `UPDATE refresh_tokens SET used_at = $2, replaced_by = $3 WHERE hash = $1`

	insertRefreshTokenSQL = `INSERT INTO refresh_tokens (hash, session_id, expires_at) VALUES ($1, $2, $3)`

	revokeSessionSQL = `UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`

	revokeSessionByTokenSQL = `UPDATE sessions s SET revoked_at = coalesce(s.revoked_at, $2)
FROM refresh_tokens t
WHERE t.hash = $1 AND t.session_id = s.id AND t.expires_at > $2
RETURNING s.id, s.user_id`

	sessionActiveSQL = `SELECT revoked_at IS NULL AND expires_at > $2 FROM sessions WHERE id = $1`

	// The purge deletes in batches, so that no statement holds many row
	// locks or runs long.
	purgeSessionsSQL = `DELETE FROM sessions WHERE id IN (
	SELECT id FROM sessions WHERE coalesce(revoked_at, expires_at) <= $1 LIMIT $2)`
	purgeRefreshTokensSQL = `DELETE FROM refresh_tokens WHERE hash IN (
	SELECT hash FROM refresh_tokens WHERE expires_at <= $1 LIMIT $2)`
)

// errBadRefreshToken is what every refresh failure looks like to the client:
// it must not learn which check failed.
var errBadRefreshToken = &model.Error{Code: model.EUnauthenticated, Message: "The refresh token is invalid or expired."}

// CreateSession starts a login for user with its first refresh token. The
// login ends Store.LoginLifetime from now, and no refresh token of it
// outlives that. Returns ENotFound if there is no such user.
func (s *Store) CreateSession(ctx context.Context, user model.UserID, first model.RefreshToken) (model.SessionID, error) {
	var id int64
	now := s.now()
	err := sqlx.GetContext(ctx, s.db, &id, insertSessionSQL, user, now, now.Add(s.LoginLifetime), first.Hash, first.ExpiresAt.UTC())
	if err != nil {
		return 0, userError("create session", err)
	}
	return model.SessionID(id), nil
}

// RotateRefreshToken marks the token with hash old as used and stores next in
// the same session, returning the session's user. Returns EUnauthenticated if
// old is unknown, expired (by Store.Now), or its session revoked or past its
// lifetime. If old was already used, that is a lost response when it comes
// within Store.RefreshGrace of the rotation and the token that replaced old
// has not been used yet: next is then stored beside that replacement and the
// login lives. Otherwise reuse means the token leaked: it revokes the whole
// session and returns that session and its user along with the error, so the
// caller can end what the session still has open.
func (s *Store) RotateRefreshToken(ctx context.Context, old []byte, next model.RefreshToken) (model.UserID, model.SessionID, error) {
	now := s.now()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("rotate refresh token: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	var row struct {
		SessionID        int64        `db:"session_id"`
		ExpiresAt        time.Time    `db:"expires_at"`
		UsedAt           sql.NullTime `db:"used_at"`
		ReplacedBy       []byte       `db:"replaced_by"`
		UserID           int64        `db:"user_id"`
		RevokedAt        sql.NullTime `db:"revoked_at"`
		SessionExpiresAt time.Time    `db:"session_expires_at"`
	}
	err = tx.GetContext(ctx, &row, lockRefreshTokenSQL, old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, 0, errBadRefreshToken
	case err != nil:
		return 0, 0, fmt.Errorf("rotate refresh token: %w", translate(err))
	case row.RevokedAt.Valid || !now.Before(row.SessionExpiresAt):
		return 0, 0, errBadRefreshToken
	case row.UsedAt.Valid:
		lost, err := s.lostResponse(ctx, tx, now, row.UsedAt.Time, row.ReplacedBy)
		if err != nil {
			return 0, 0, err
		}
		if !lost {
			if _, err := tx.ExecContext(ctx, revokeSessionSQL, row.SessionID, now); err != nil {
				return 0, 0, fmt.Errorf("revoke reused session: %w", translate(err))
			}
			if err := tx.Commit(); err != nil {
				return 0, 0, fmt.Errorf("revoke reused session: %w", err)
			}
			return model.UserID(row.UserID), model.SessionID(row.SessionID), errBadRefreshToken
		}
	case !now.Before(row.ExpiresAt):
		return 0, 0, errBadRefreshToken
	default:
		if _, err := tx.ExecContext(ctx, useRefreshTokenSQL, old, now, next.Hash); err != nil {
			return 0, 0, fmt.Errorf("rotate refresh token: %w", translate(err))
		}
	}
	expires := next.ExpiresAt.UTC()
	if row.SessionExpiresAt.Before(expires) {
		expires = row.SessionExpiresAt
	}
	if _, err := tx.ExecContext(ctx, insertRefreshTokenSQL, next.Hash, row.SessionID, expires); err != nil {
		return 0, 0, fmt.Errorf("rotate refresh token: %w", translate(err))
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("rotate refresh token: %w", err)
	}
	return model.UserID(row.UserID), model.SessionID(row.SessionID), nil
}

// lostResponse reports whether a used refresh token, presented again, is a
// client that never got the answer to its refresh rather than a thief: it is
// within the grace window of its rotation (used at usedAt), and the token
// that rotation issued (replacement) has not been used, so nobody has moved
// on with the login since.
func (s *Store) lostResponse(ctx context.Context, tx *sqlx.Tx, now, usedAt time.Time, replacement []byte) (bool, error) {
	if s.RefreshGrace <= 0 || replacement == nil || !now.Before(usedAt.Add(s.RefreshGrace)) {
		return false, nil
	}
	var unused bool
	err := tx.GetContext(ctx, &unused, lockReplacementSQL, replacement)
	switch {
	case errors.Is(err, sql.ErrNoRows): // purged
		return false, nil
	case err != nil:
		return false, fmt.Errorf("rotate refresh token: %w", translate(err))
	}
	return unused, nil
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

// SessionActive reports whether the session exists, has not been revoked and
// is within its lifetime.
func (s *Store) SessionActive(ctx context.Context, id model.SessionID) (bool, error) {
	var active bool
	err := sqlx.GetContext(ctx, s.db, &active, sessionActiveSQL, id, s.now())
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("session active: %w", translate(err))
	}
	return active, nil
}

// purgeBatch is how many rows one purge statement deletes at most.
const purgeBatch = 5000

// PurgeSessions deletes what can no longer be used: logins that were revoked
// or are past their lifetime, with all their refresh tokens, and refresh
// tokens past their expiry, used or not. A used token is kept until it
// expires, so that its reuse is still recognised as a theft until then. It
// returns how many sessions and tokens it deleted.
func (s *Store) PurgeSessions(ctx context.Context) (sessions, tokens int64, err error) {
	now := s.now()
	purge := func(query string) (int64, error) {
		var total int64
		for {
			res, err := s.db.ExecContext(ctx, query, now, purgeBatch)
			if err != nil {
				return total, fmt.Errorf("purge sessions: %w", translate(err))
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, fmt.Errorf("purge sessions: %w", err)
			}
			total += n
			if n < purgeBatch {
				return total, nil
			}
		}
	}
	if sessions, err = purge(purgeSessionsSQL); err != nil {
		return sessions, 0, err
	}
	tokens, err = purge(purgeRefreshTokensSQL)
	return sessions, tokens, err
}
