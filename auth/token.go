package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
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
	c, _, err := parseAccessToken(secret, token, now)
	return c, err
}

// parseAccessToken is ParseAccessToken that also returns the expiry.
func parseAccessToken(secret []byte, token string, now time.Time) (Claims, time.Time, error) {
	var claims accessClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return Claims{}, time.Time{}, fmt.Errorf("parse access token: %w", err)
	}
	user, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil || user <= 0 || claims.SessionID <= 0 {
		return Claims{}, time.Time{}, fmt.Errorf("parse access token: %w", errBadSubject)
	}
	// WithExpirationRequired: ExpiresAt is set.
	return Claims{UserID: model.UserID(user), SessionID: model.SessionID(claims.SessionID)}, claims.ExpiresAt.Time, nil
}

// Verifier checks access tokens like ParseAccessToken, remembering the
// tokens it has accepted until they expire, so that a client sending the
// same token with each request pays for parsing and HMAC once rather than
// every time. A remembered token is the exact string that was verified with
// the same secret, so the answer cannot differ except by expiry, which is
// checked on every call. It is safe for concurrent use.
type Verifier struct {
	secret []byte
	max    int // entries kept at most

	mu       sync.Mutex
	accepted map[string]acceptedToken
}

type acceptedToken struct {
	claims Claims
	exp    time.Time
}

// verifierEntries bounds a Verifier's memory: at about 300 bytes a token, a
// few megabytes, and more than enough for the clients of one instance
// within a token's 15 minutes.
const verifierEntries = 10000

// NewVerifier returns a Verifier of tokens signed with secret.
func NewVerifier(secret []byte) *Verifier {
	return &Verifier{secret: secret, max: verifierEntries, accepted: make(map[string]acceptedToken)}
}

// Verify returns the claims of token if it is valid at now, with the same
// rules and errors as ParseAccessToken.
func (v *Verifier) Verify(token string, now time.Time) (Claims, error) {
	v.mu.Lock()
	a, ok := v.accepted[token]
	v.mu.Unlock()
	if ok && now.Before(a.exp) {
		return a.claims, nil
	}
	claims, exp, err := parseAccessToken(v.secret, token, now)
	if err != nil {
		return Claims{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.accepted) >= v.max {
		for k, a := range v.accepted {
			if !now.Before(a.exp) {
				delete(v.accepted, k)
			}
		}
		for k := range v.accepted { // all still valid: forget arbitrary ones
			if len(v.accepted) < v.max {
				break
			}
			delete(v.accepted, k)
		}
	}
	v.accepted[token] = acceptedToken{claims: claims, exp: exp}
	return claims, nil
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
