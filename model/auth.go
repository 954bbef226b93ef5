package model

import "time"

// SessionID identifies one login: the chain of refresh tokens that began with
// one register or login. Revoking it ends every token in the chain.
type SessionID int64

// Session is one login of a user.
type Session struct {
	ID        SessionID
	UserID    UserID
	CreatedAt time.Time
	RevokedAt *time.Time
}

// RefreshToken is the stored form of an opaque refresh token: only a hash of
// the token is ever stored.
type RefreshToken struct {
	Hash      []byte // SHA-256 of the token
	ExpiresAt time.Time
}
