package api_test

import (
	"net/http"
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
