package api_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"parley/api"
	"parley/model"
)

func TestRegister(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := s.client(t)

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		r := c.in(t).post("/api/v1/auth/register", map[string]string{"username": "alice", "password": "secret password"}).want(http.StatusCreated)
		got := decodeJSON[tokensJSON](r)
		if got.AccessToken == "" || got.RefreshToken == "" || got.TokenType != "Bearer" || got.ExpiresIn != 900 {
			t.Errorf("got tokens %+v, want both tokens, Bearer, 900 s", got)
		}
		if got.User.Username != "alice" || got.User.DisplayName != "alice" || got.User.ID <= 0 {
			t.Errorf("got user %+v, want alice with display name alice", got.User)
		}
		me := decodeJSON[userJSON](c.in(t).as(got.AccessToken).get("/api/v1/me").want(http.StatusOK))
		if diff := cmp.Diff(got.User, me); diff != "" {
			t.Errorf("/me mismatch (-register +me):\n%s", diff)
		}
	})
	t.Run("OKDisplayName", func(t *testing.T) {
		t.Parallel()
		r := c.in(t).post("/api/v1/auth/register", map[string]string{"username": "bob", "password": "secret password", "display_name": "  Bob B.  "})
		if got := decodeJSON[tokensJSON](r.want(http.StatusCreated)).User.DisplayName; got != "Bob B." {
			t.Errorf("got display name %q, want it trimmed to %q", got, "Bob B.")
		}
	})
	t.Run("ErrTaken", func(t *testing.T) {
		t.Parallel()
		s.register(t, "carol")
		c.in(t).post("/api/v1/auth/register", map[string]string{"username": "CAROL", "password": "another password"}).
			wantError(http.StatusConflict, model.EConflict, "")
	})

	big := `{"username": "dave", "password": "` + strings.Repeat("x", model.MaxRequestBytes) + `"}`
	tests := []struct {
		name   string
		req    request
		status int
		code   model.Code
		field  string
	}{
		{"ErrUsernameShort", request{body: `{"username": "ab", "password": "secret password"}`, invalid: true}, 422, model.EInvalid, "username"},
		{"ErrUsernameChars", request{body: `{"username": "a b", "password": "secret password"}`, invalid: true}, 422, model.EInvalid, "username"},
		{"ErrPasswordShort", request{body: `{"username": "dave", "password": "short"}`, invalid: true}, 422, model.EInvalid, "password"},
		{"ErrPasswordMissing", request{body: `{"username": "dave"}`, invalid: true}, 422, model.EInvalid, "password"},
		{"ErrDisplayNameControl", request{body: `{"username": "dave", "password": "secret password", "display_name": "a\u0007b"}`}, 422, model.EInvalid, "display_name"},
		{"ErrWrongType", request{body: `{"username": 5, "password": "secret password"}`, invalid: true}, 422, model.EInvalid, "username"},
		{"ErrUnknownField", request{body: `{"username": "dave", "password": "secret password", "admin": true}`, invalid: true}, 400, model.EMalformed, ""},
		{"ErrSyntax", request{body: `{"username": "dave",`, invalid: true}, 400, model.EMalformed, ""},
		{"ErrTrailingData", request{body: `{"username": "dave", "password": "secret password"} {}`, invalid: true}, 400, model.EMalformed, ""},
		{"ErrArray", request{body: `[]`, invalid: true}, 400, model.EMalformed, ""},
		{"ErrNull", request{body: `null`, invalid: true}, 400, model.EMalformed, ""},
		{"ErrEmptyBody", request{body: ``, invalid: true}, 400, model.EMalformed, ""},
		{"ErrInvalidUTF8", request{body: []byte("{\"username\": \"dave\", \"password\": \"secret \xff password\"}"), invalid: true}, 400, model.EMalformed, ""},
		{"ErrTextPlain", request{body: `{}`, header: map[string]string{"Content-Type": "text/plain"}, invalid: true}, 415, model.EUnsupportedMedia, ""},
		{"ErrLatin1", request{body: `{}`, header: map[string]string{"Content-Type": "application/json; charset=iso-8859-1"}, invalid: true}, 415, model.EUnsupportedMedia, ""},
		{"ErrNoContentType", request{body: `{}`, header: map[string]string{"Content-Type": ""}, invalid: true}, 415, model.EUnsupportedMedia, ""},
		{"ErrTooLarge", request{body: big, invalid: true}, 413, model.ETooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.req.method, tt.req.path = http.MethodPost, "/api/v1/auth/register"
			c.in(t).do(tt.req).wantError(tt.status, tt.code, tt.field)
		})
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice := s.register(t, "alice")
	c := s.client(t)
	login := func(t *testing.T, username, password string) *response {
		return c.in(t).post("/api/v1/auth/login", map[string]string{"username": username, "password": password})
	}

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		got := decodeJSON[tokensJSON](login(t, "alice", "password alice").want(http.StatusOK))
		if got.User.ID != alice.ID || got.RefreshToken == alice.Tokens.RefreshToken {
			t.Errorf("got %+v, want alice with a new refresh token", got)
		}
		c.in(t).as(got.AccessToken).get("/api/v1/me").want(http.StatusOK)
	})
	t.Run("OKAnyCase", func(t *testing.T) {
		t.Parallel()
		login(t, "ALICE", "password alice").want(http.StatusOK)
	})
	t.Run("ErrWrongPasswordLooksLikeUnknownUser", func(t *testing.T) {
		t.Parallel()
		wrong := login(t, "alice", "password bob")
		wrong.wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
		unknown := login(t, "nobody", "password alice")
		unknown.wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
		if !bytes.Equal(wrong.Body, unknown.Body) {
			t.Errorf("got %s for a wrong password and %s for an unknown user, want the same", wrong.Body, unknown.Body)
		}
	})
	t.Run("ErrPasswordMissing", func(t *testing.T) {
		t.Parallel()
		c.in(t).do(request{method: http.MethodPost, path: "/api/v1/auth/login", body: `{"username": "alice"}`, invalid: true}).
			wantError(http.StatusUnprocessableEntity, model.EInvalid, "password")
	})
	t.Run("ErrUsernameInvalid", func(t *testing.T) {
		t.Parallel()
		c.in(t).do(request{method: http.MethodPost, path: "/api/v1/auth/login", body: `{"username": "", "password": "x"}`, invalid: true}).
			wantError(http.StatusUnprocessableEntity, model.EInvalid, "username")
	})
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := s.client(t)
	refresh := func(t *testing.T, token string) *response {
		return c.in(t).post("/api/v1/auth/refresh", map[string]string{"refresh_token": token})
	}

	t.Run("OKRotates", func(t *testing.T) {
		t.Parallel()
		u := s.register(t, "alice")
		next := decodeJSON[tokensJSON](refresh(t, u.Tokens.RefreshToken).want(http.StatusOK))
		if next.RefreshToken == u.Tokens.RefreshToken || next.User.ID != u.ID {
			t.Fatalf("got %+v, want a new refresh token for alice", next)
		}
		c.in(t).as(next.AccessToken).get("/api/v1/me").want(http.StatusOK)
		refresh(t, next.RefreshToken).want(http.StatusOK)
	})
	t.Run("ErrReuseRevokesLogin", func(t *testing.T) {
		t.Parallel()
		// The login moved on (next was used), then the first token comes
		// back: it leaked, and the whole login ends.
		u := s.register(t, "bob")
		next := decodeJSON[tokensJSON](refresh(t, u.Tokens.RefreshToken).want(http.StatusOK))
		newest := decodeJSON[tokensJSON](refresh(t, next.RefreshToken).want(http.StatusOK))
		refresh(t, u.Tokens.RefreshToken).wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
		refresh(t, newest.RefreshToken).wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
	})
	t.Run("OKLostResponse", func(t *testing.T) {
		t.Parallel()
		// The answer to a refresh never arrived, so the client retries
		// with the same token within the grace window: it gets tokens and
		// the login lives on.
		u := s.register(t, "erin")
		refresh(t, u.Tokens.RefreshToken).want(http.StatusOK) // lost
		retried := decodeJSON[tokensJSON](refresh(t, u.Tokens.RefreshToken).want(http.StatusOK))
		c.in(t).as(retried.AccessToken).get("/api/v1/me").want(http.StatusOK)
		refresh(t, retried.RefreshToken).want(http.StatusOK)
	})
	t.Run("OKTwoAtOnce", func(t *testing.T) {
		t.Parallel()
		// Two tabs refresh with the same token at the same moment.
		u := s.register(t, "frank")
		var wg sync.WaitGroup
		got := make([]*response, 2)
		for i := range got {
			wg.Go(func() { got[i] = refresh(t, u.Tokens.RefreshToken) })
		}
		wg.Wait()
		for _, r := range got {
			refresh(t, decodeJSON[tokensJSON](r.want(http.StatusOK)).RefreshToken).want(http.StatusOK)
		}
	})
	t.Run("ErrReuseLeavesOtherLogins", func(t *testing.T) {
		t.Parallel()
		u := s.register(t, "carol")
		other := decodeJSON[tokensJSON](c.in(t).post("/api/v1/auth/login", map[string]string{"username": "carol", "password": "password carol"}).want(http.StatusOK))
		next := decodeJSON[tokensJSON](refresh(t, u.Tokens.RefreshToken).want(http.StatusOK))
		refresh(t, next.RefreshToken).want(http.StatusOK)
		refresh(t, u.Tokens.RefreshToken).want(http.StatusUnauthorized)
		refresh(t, other.RefreshToken).want(http.StatusOK)
	})
	t.Run("ErrUnknown", func(t *testing.T) {
		t.Parallel()
		refresh(t, "not-a-token").wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
	})
	t.Run("ErrAccessTokenIsNotARefreshToken", func(t *testing.T) {
		t.Parallel()
		u := s.register(t, "dave")
		refresh(t, u.Tokens.AccessToken).wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
	})
	t.Run("ErrEmpty", func(t *testing.T) {
		t.Parallel()
		c.in(t).do(request{method: http.MethodPost, path: "/api/v1/auth/refresh", body: `{"refresh_token": ""}`, invalid: true}).
			wantError(http.StatusUnprocessableEntity, model.EInvalid, "refresh_token")
	})
}

func TestLogout(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := s.client(t)
	u := s.register(t, "alice")
	body := map[string]string{"refresh_token": u.Tokens.RefreshToken}
	c.post("/api/v1/auth/logout", body).want(http.StatusNoContent)
	c.post("/api/v1/auth/refresh", body).wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
	c.post("/api/v1/auth/logout", body).want(http.StatusNoContent) // logging out twice is not an error
	c.post("/api/v1/auth/logout", map[string]string{"refresh_token": "unknown"}).wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
}

// clock is a settable time for Config.Now.
type clock struct{ unixNano atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.unixNano.Load()) }
func (c *clock) Set(t time.Time)         { c.unixNano.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	var now clock
	now.Set(time.Now())
	s := newServer(t, func(cfg *api.Config) { cfg.Now = now.Now })
	u := s.register(t, "alice")
	expiredUser := s.register(t, "bob")
	now.Advance(model.AccessTokenTTL + time.Second)
	fresh := s.register(t, "carol")

	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "parley", "sub": strconv.FormatInt(u.ID, 10), "sid": 1,
			"iat": now.Now().Unix(), "exp": now.Now().Add(time.Minute).Unix()}
	}
	sign := func(m jwt.SigningMethod, claims jwt.MapClaims, key any) string {
		s, err := jwt.NewWithClaims(m, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(fresh.Tokens.AccessToken)
	tampered[len(tampered)-5] ^= 1
	forged := claims()
	forged["sub"] = "999"

	tests := []struct {
		name   string
		header string // Authorization
		status int
	}{
		{"OK", "Bearer " + fresh.Tokens.AccessToken, http.StatusOK},
		{"OKSchemeAnyCase", "bearer " + fresh.Tokens.AccessToken, http.StatusOK},
		{"OKSignedHere", "Bearer " + sign(jwt.SigningMethodHS256, claims(), secret), http.StatusOK},
		{"ErrNoHeader", "", http.StatusUnauthorized},
		{"ErrBasic", "Basic YWxpY2U6cGFzc3dvcmQ=", http.StatusUnauthorized},
		{"ErrEmptyToken", "Bearer ", http.StatusUnauthorized},
		{"ErrExpired", "Bearer " + expiredUser.Tokens.AccessToken, http.StatusUnauthorized},
		{"ErrTampered", "Bearer " + string(tampered), http.StatusUnauthorized},
		{"ErrForgedSubject", "Bearer " + reSign(t, fresh.Tokens.AccessToken, forged), http.StatusUnauthorized},
		{"ErrOtherSecret", "Bearer " + sign(jwt.SigningMethodHS256, claims(), []byte("some other secret of 32 bytes or more")), http.StatusUnauthorized},
		{"ErrAlgNone", "Bearer " + sign(jwt.SigningMethodNone, claims(), jwt.UnsafeAllowNoneSignatureType), http.StatusUnauthorized},
		{"ErrHS512", "Bearer " + sign(jwt.SigningMethodHS512, claims(), secret), http.StatusUnauthorized},
		{"ErrES256", "Bearer " + sign(jwt.SigningMethodES256, claims(), ecKey), http.StatusUnauthorized},
		{"ErrRefreshToken", "Bearer " + fresh.Tokens.RefreshToken, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := s.client(t).do(request{method: http.MethodGet, path: "/api/v1/me", header: map[string]string{"Authorization": tt.header}})
			if tt.status == http.StatusOK {
				r.want(http.StatusOK)
				return
			}
			r.wantError(tt.status, model.EUnauthenticated, "")
			challenge := r.Header.Get("WWW-Authenticate")
			if presented := strings.HasPrefix(strings.ToLower(tt.header), "bearer ") && len(tt.header) > len("Bearer "); presented != strings.Contains(challenge, `error="invalid_token"`) {
				t.Errorf("got WWW-Authenticate %q; want error=\"invalid_token\" exactly when a token was sent", challenge)
			}
		})
	}
}

// reSign replaces the payload of token with claims, keeping its header and
// signature: what an attacker without the secret can do.
func reSign(t *testing.T, token string, claims jwt.MapClaims) string {
	t.Helper()
	parts := strings.Split(token, ".")
	unsigned, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SigningString()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(unsigned, ".")[0] + "." + strings.Split(unsigned, ".")[1] + "." + parts[2]
}
