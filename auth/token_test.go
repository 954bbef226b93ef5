package auth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"parley/auth"
	"parley/model"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestAccessToken(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	want := auth.Claims{UserID: 7, SessionID: 11}
	token, err := auth.NewAccessToken(secret, want, now)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		got, err := auth.ParseAccessToken(secret, token, now.Add(model.AccessTokenTTL-time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("claims mismatch (-want +got):\n%s", diff)
		}
	})

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	valid := jwt.MapClaims{"iss": "parley", "sub": "7", "sid": 11, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	sign := func(t *testing.T, m jwt.SigningMethod, claims jwt.MapClaims, key any) string {
		t.Helper()
		s, err := jwt.NewWithClaims(m, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range valid {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tampered := []byte(token)
	tampered[len(tampered)-3] ^= 1 // flip a bit of the signature

	tests := []struct {
		name  string
		token string
		now   time.Time
	}{
		{"ErrExpired", token, now.Add(model.AccessTokenTTL + time.Second)},
		{"ErrTampered", string(tampered), now},
		{"ErrOtherSecret", sign(t, jwt.SigningMethodHS256, valid, []byte("another secret of thirty-two bytes")), now},
		{"ErrAlgNone", sign(t, jwt.SigningMethodNone, valid, jwt.UnsafeAllowNoneSignatureType), now},
		{"ErrHS512", sign(t, jwt.SigningMethodHS512, valid, secret), now},
		{"ErrES256", sign(t, jwt.SigningMethodES256, valid, key), now},
		{"ErrNoExp", sign(t, jwt.SigningMethodHS256, with("exp", nil), secret), now},
		{"ErrOtherIssuer", sign(t, jwt.SigningMethodHS256, with("iss", "evil"), secret), now},
		{"ErrBadSubject", sign(t, jwt.SigningMethodHS256, with("sub", "seven"), secret), now},
		{"ErrNoSession", sign(t, jwt.SigningMethodHS256, with("sid", nil), secret), now},
		{"ErrGarbage", "not.a.jwt", now},
		{"ErrEmpty", "", now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := auth.ParseAccessToken(secret, tt.token, tt.now); err == nil {
				t.Errorf("got %+v, want an error", got)
			}
		})
	}

	// A Verifier gives the same answers, also for a token it has accepted
	// before and remembers.
	t.Run("Verifier", func(t *testing.T) {
		t.Parallel()
		v := auth.NewVerifier(secret)
		for range 2 {
			got, err := v.Verify(token, now.Add(model.AccessTokenTTL-time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("claims mismatch (-want +got):\n%s", diff)
			}
		}
		for _, tt := range tests {
			for range 2 {
				if got, err := v.Verify(tt.token, tt.now); err == nil {
					t.Errorf("%s: got %+v, want an error", tt.name, got)
				}
			}
		}
		// Accepted once, the token is still refused once expired, and
		// accepted again at a time before its expiry.
		if got, err := v.Verify(token, now.Add(model.AccessTokenTTL)); err == nil {
			t.Errorf("at expiry: got %+v, want an error", got)
		}
		if _, err := v.Verify(token, now); err != nil {
			t.Errorf("before expiry: %v", err)
		}
	})
}

func TestVerifier_Bounded(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	v := auth.NewVerifier(secret)
	// More distinct valid tokens than it remembers: each still verifies.
	const n = 10050
	for i := range n {
		c := auth.Claims{UserID: model.UserID(i + 1), SessionID: 1}
		token, err := auth.NewAccessToken(secret, c, now.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Verify(token, now)
		if err != nil {
			t.Fatal(err)
		}
		if got != c {
			t.Fatalf("got %+v, want %+v", got, c)
		}
	}
	if got := auth.VerifierLen(v); got > 10000 {
		t.Errorf("remembers %d tokens, want at most 10000", got)
	}
}

func TestRefreshToken(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	token, stored := auth.NewRefreshToken(now)
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 32 {
		t.Fatalf("got token %q (%d bytes, %v); want 32 bytes of base64url", token, len(raw), err)
	}
	if !bytes.Equal(stored.Hash, auth.HashRefreshToken(token)) || len(stored.Hash) != 32 {
		t.Errorf("got stored hash %x, want the SHA-256 of the token", stored.Hash)
	}
	if want := now.Add(model.RefreshTokenTTL); !stored.ExpiresAt.Equal(want) {
		t.Errorf("got expiry %v, want %v", stored.ExpiresAt, want)
	}
	if other, _ := auth.NewRefreshToken(now); other == token {
		t.Error("two refresh tokens are equal")
	}
}
