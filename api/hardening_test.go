package api_test

import (
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"parley/api"
	"parley/model"
)

// TestHashGate checks that password hashing is admitted a few at a time:
// a burst of logins beyond the slots gets 503 with Retry-After (never a
// 500), the rest log in, and other requests are answered meanwhile.
func TestHashGate(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *api.Config) {
		c.HashConcurrency = 1
		c.HashWait = time.Millisecond
	})
	alice := s.register(t, "alice")

	const burst = 24
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		busy     []*response
	)
	for range burst {
		wg.Go(func() {
			r := s.client(t).post("/api/v1/auth/login", map[string]string{"username": "alice", "password": "password alice"})
			mu.Lock()
			defer mu.Unlock()
			statuses[r.Status]++
			if r.Status == http.StatusServiceUnavailable {
				busy = append(busy, r)
			}
		})
	}
	// While the logins queue, the rest of the API answers.
	alice.get("/api/v1/me").want(http.StatusOK)
	wg.Wait()

	if statuses[http.StatusOK] == 0 || statuses[http.StatusServiceUnavailable] == 0 ||
		statuses[http.StatusOK]+statuses[http.StatusServiceUnavailable] != burst {
		t.Fatalf("got statuses %v for %d logins at once through one hashing slot, want only 200s and 503s, some of each", statuses, burst)
	}
	for _, r := range busy[:1] {
		r.wantError(http.StatusServiceUnavailable, model.EUnavailable, "")
		if got := r.Header.Get("Retry-After"); got != "1" {
			t.Errorf("got Retry-After %q on a 503, want 1", got)
		}
	}
}

// TestCredentialsNotCached checks that every response carrying a token or a
// ticket tells caches not to keep it.
func TestCredentialsNotCached(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := s.client(t)
	reg := c.post("/api/v1/auth/register", map[string]string{"username": "alice", "password": "password alice"}).want(http.StatusCreated)
	tokens := decodeJSON[tokensJSON](reg)
	login := c.post("/api/v1/auth/login", map[string]string{"username": "alice", "password": "password alice"}).want(http.StatusOK)
	refresh := c.post("/api/v1/auth/refresh", map[string]string{"refresh_token": tokens.RefreshToken}).want(http.StatusOK)
	ticket := c.as(tokens.AccessToken).post("/api/v1/ws/tickets", nil).want(http.StatusCreated)
	for name, r := range map[string]*response{"register": reg, "login": login, "refresh": refresh, "ticket": ticket} {
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: got Cache-Control %q, want no-store", name, got)
		}
	}
}

// TestAuthRateLimits_ClientKeying checks, through the whole server, that the
// per-IP limit counts an IPv6 client by its /64 and an IPv4-mapped address
// as its IPv4 address, behind a trusted proxy.
func TestAuthRateLimits_ClientKeying(t *testing.T) {
	t.Parallel()
	login := func(c *client, forwardedFor string) *response {
		return c.do(request{method: http.MethodPost, path: "/api/v1/auth/login",
			body:   map[string]string{"username": "nobody", "password": "wrong password"},
			header: map[string]string{"X-Forwarded-For": forwardedFor}})
	}
	s := newServer(t, func(cfg *api.Config) {
		cfg.Limits.AuthPerIP = api.Rate{N: 2, Per: time.Hour}
		cfg.Limits.AuthPerUsername = api.Rate{N: 1000, Per: time.Hour}
		cfg.TrustProxy = true
	})
	c := s.client(t)
	login(c, "2001:db8:1:2::1").want(http.StatusUnauthorized)
	login(c, "2001:db8:1:2:ffff::9").want(http.StatusUnauthorized) // same /64
	login(c, "2001:db8:1:2:abcd::1").wantError(http.StatusTooManyRequests, model.ERateLimited, "")
	login(c, "2001:db8:1:3::1").want(http.StatusUnauthorized) // the next /64 is someone else

	login(c, "192.0.2.7").want(http.StatusUnauthorized)
	login(c, "::ffff:192.0.2.7").want(http.StatusUnauthorized) // the same IPv4 client
	login(c, "192.0.2.7").wantError(http.StatusTooManyRequests, model.ERateLimited, "")
}

// TestRequestID_UntrustedPeer checks that behind a list of trusted proxies,
// a peer outside it (here the test client on loopback) gets a fresh request
// id rather than the one it sent.
func TestRequestID_UntrustedPeer(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(cfg *api.Config) {
		cfg.TrustProxy = true
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	r := s.client(t).do(request{method: http.MethodGet, path: "/healthz", header: map[string]string{"X-Request-Id": "chosen-by-client"}}).want(http.StatusOK)
	if got := r.Header.Get("X-Request-Id"); got == "chosen-by-client" || got == "" {
		t.Errorf("got X-Request-Id %q, want a fresh one", got)
	}
}
