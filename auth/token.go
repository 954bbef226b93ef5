package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"parley/model"
)

// Issuer is the iss claim of every access token.
const Issuer = "parley"

// MinSecretLen is the shortest HMAC secret worth signing with, in bytes.
const MinSecretLen = 32

// Claims identify the login that an access token was issued to.
type Claims struct {
	UserID    model.UserID
	SessionID model.SessionID
}

// accessClaims is the JWT payload: sub, sid, iss, iat and exp.
type accessClaims struct {
	SessionID int64 `json:"sid"`
	jwt.RegisteredClaims
}

// NewAccessToken returns a JWT for c signed with HS256 and secret, issued at
// now and valid for model.AccessTokenTTL.
func NewAccessToken(secret []byte, c Claims, now time.Time) (string, error) {
	claims := accessClaims{
		SessionID: int64(c.SessionID),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   strconv.FormatInt(int64(c.UserID), 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(model.AccessTokenTTL)),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return s, nil
}

var errBadSubject = errors.New("bad sub or sid claim")

// ParseAccessToken verifies token and returns its claims. It accepts only
// HS256 signed with secret, issued by Issuer, and not expired at now; a token
// with alg "none", another algorithm, a bad signature, no exp or a past exp
// is an error.
func ParseAccessToken(secret []byte, token string, now time.Time) (Claims, error) {
	var claims accessClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("parse access token: %w", err)
	}
	user, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil || user <= 0 || claims.SessionID <= 0 {
		return Claims{}, fmt.Errorf("parse access token: %w", errBadSubject)
	}
	return Claims{UserID: model.UserID(user), SessionID: model.SessionID(claims.SessionID)}, nil
}

// NewRefreshToken returns a new opaque refresh token, 32 random bytes in
// base64url, and the form the store keeps: its hash, expiring
// model.RefreshTokenTTL after now.
func NewRefreshToken(now time.Time) (string, model.RefreshToken) {
	token := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	return token, model.RefreshToken{Hash: HashRefreshToken(token), ExpiresAt: now.Add(model.RefreshTokenTTL)}
}

// HashRefreshToken returns the SHA-256 of token, the only form in which a
// refresh token is stored or looked up.
func HashRefreshToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// randomBytes returns n bytes from crypto/rand, which never fails on the
// platforms Go supports (it crashes the program instead).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
