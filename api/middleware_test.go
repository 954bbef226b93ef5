package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"parley/api"
	"parley/internal/dbtest"
	"parley/model"
)

// TestAccessLog checks that each request is logged once with its id and the
// caller, and that no password, token or message body reaches the log.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice := s.register(t, "alice")
	conv := alice.channel("general")
	r := alice.post(fmt.Sprintf("/api/v1/conversations/%d/messages?secret=query", conv), map[string]string{"body": "the body is private"}).
		want(http.StatusCreated)
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("got no X-Request-Id")
	}

	logs := s.logs.String()
	line := regexp.MustCompile(`.*"request_id":"` + id + `".*`).FindString(logs)
	for _, want := range []string{`"msg":"request"`, `"method":"POST"`, fmt.Sprintf(`"path":"/api/v1/conversations/%d/messages"`, conv), `"status":201`, fmt.Sprintf(`"user_id":%d`, alice.ID), `"duration":`} {
		if !strings.Contains(line, want) {
			t.Errorf("got access log line %q, want it to contain %s", line, want)
		}
	}
	for _, secret := range []string{"password alice", alice.Tokens.AccessToken, alice.Tokens.RefreshToken, "the body is private", "secret=query", "Bearer"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	for _, trust := range []bool{false, true} {
		t.Run(fmt.Sprint("TrustProxy=", trust), func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(cfg *api.Config) { cfg.TrustProxy = trust })
			r := s.client(t).do(request{method: http.MethodGet, path: "/healthz", header: map[string]string{"X-Request-Id": "from-proxy-1"}}).want(http.StatusOK)
			if kept := r.Header.Get("X-Request-Id") == "from-proxy-1"; kept != trust {
				t.Errorf("got X-Request-Id %q; want the proxy's kept only when it is trusted", r.Header.Get("X-Request-Id"))
			}
		})
	}
}

// failingStore fails or panics where the tests say; every other method
// reaches the real database.
type failingStore struct {
	api.Store
}

func (failingStore) GetUser(context.Context, model.UserID) (model.User, error) {
	panic("boom")
}

func (failingStore) ListConversations(context.Context, model.UserID, model.ConversationFilter) ([]model.Conversation, bool, error) {
	return nil, false, errors.New("connection reset by peer: internal detail")
}

func TestInternalErrors(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	s := newServerWith(t, database, failingStore{database})
	alice := s.register(t, "alice")

	t.Run("Panic", func(t *testing.T) {
		alice.in(t).get("/api/v1/me").wantError(http.StatusInternalServerError, model.EInternal, "")
		if !strings.Contains(s.logs.String(), `"msg":"handler panicked"`) {
			t.Error("the panic was not logged")
		}
	})
	t.Run("Error", func(t *testing.T) {
		r := alice.in(t).get("/api/v1/conversations")
		r.wantError(http.StatusInternalServerError, model.EInternal, "")
		if strings.Contains(string(r.Body), "internal detail") {
			t.Errorf("got %s; the cause must stay in the log", r.Body)
		}
		if !strings.Contains(s.logs.String(), "internal detail") {
			t.Error("the cause was not logged")
		}
	})
}

func TestCORS(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(cfg *api.Config) { cfg.AllowedOrigins = []string{"https://app.example"} })
	c := s.client(t)

	preflight := func(origin string) *response {
		return c.do(request{method: http.MethodOptions, path: "/api/v1/me", unspecified: true, header: map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization",
		}})
	}
	r := preflight("https://app.example").want(http.StatusNoContent)
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("got Access-Control-Allow-Origin %q, want the origin", got)
	}
	if got := r.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Authorization") {
		t.Errorf("got Access-Control-Allow-Headers %q, want Authorization", got)
	}
	if got := preflight("https://evil.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("got Access-Control-Allow-Origin %q for another origin, want none", got)
	}

	r = c.do(request{method: http.MethodGet, path: "/healthz", header: map[string]string{"Origin": "https://app.example"}}).want(http.StatusOK)
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("got headers %v, want the origin allowed and Retry-After exposed", r.Header)
	}
}

// TestAuthRateLimits checks the limits on logins and registrations, and that
// the client IP comes from proxy headers only when the proxy is trusted.
func TestAuthRateLimits(t *testing.T) {
	t.Parallel()
	login := func(c *client, username, forwardedFor string) *response {
		return c.do(request{method: http.MethodPost, path: "/api/v1/auth/login",
			body:   map[string]string{"username": username, "password": "wrong password"},
			header: map[string]string{"X-Forwarded-For": forwardedFor}})
	}
	wantLimited := func(t *testing.T, r *response) {
		t.Helper()
		r.wantError(http.StatusTooManyRequests, model.ERateLimited, "")
		wantRetryAfter(t, r, 1800)
	}
	twoPerHour := api.Rate{N: 2, Per: time.Hour}

	t.Run("PerUsername", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(cfg *api.Config) { cfg.Limits.AuthPerUsername = twoPerHour })
		c := s.client(t)
		login(c, "alice", "").want(http.StatusUnauthorized)
		login(c, "ALICE", "").want(http.StatusUnauthorized)
		wantLimited(t, login(c, "alice", ""))
		login(c, "bob", "").want(http.StatusUnauthorized)
	})
	t.Run("PerIP", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(cfg *api.Config) { cfg.Limits.AuthPerIP = twoPerHour })
		c := s.client(t)
		login(c, "alice", "192.0.2.1").want(http.StatusUnauthorized)
		login(c, "bob", "192.0.2.2").want(http.StatusUnauthorized) // the header is not trusted
		wantLimited(t, login(c, "carol", "192.0.2.3"))
		// Registering is counted apart from logging in.
		s.register(t, "dave")
	})
	t.Run("PerIPBehindProxy", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(cfg *api.Config) { cfg.Limits.AuthPerIP = twoPerHour; cfg.TrustProxy = true })
		c := s.client(t)
		login(c, "alice", "192.0.2.1").want(http.StatusUnauthorized)
		login(c, "bob", "192.0.2.1").want(http.StatusUnauthorized)
		wantLimited(t, login(c, "carol", "192.0.2.1"))
		// The proxy appends the address it saw; what the client sent before it does not count.
		wantLimited(t, login(c, "carol", "203.0.113.9, 192.0.2.1"))
		login(c, "carol", "192.0.2.2").want(http.StatusUnauthorized)
	})
	t.Run("Register", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(cfg *api.Config) { cfg.Limits.AuthPerIP = twoPerHour })
		s.register(t, "erin")
		s.register(t, "frank")
		wantLimited(t, s.client(t).post("/api/v1/auth/register", map[string]string{"username": "grace", "password": "password grace"}))
	})
}
