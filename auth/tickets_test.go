package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/internal/redistest"
	"parley/model"
)

var ctxb = context.Background()

// tickets is what api.Tickets asks of both stores.
type tickets interface {
	Issue(ctx context.Context, user model.UserID, session model.SessionID) (string, time.Time, error)
	Redeem(ctx context.Context, ticket string) (model.UserID, model.SessionID, error)
}

var (
	_ tickets = (*MemoryTickets)(nil)
	_ tickets = (*RedisTickets)(nil)
)

func mustIssue(t *testing.T, s tickets, user model.UserID, session model.SessionID) string {
	t.Helper()
	ticket, _, err := s.Issue(ctxb, user, session)
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	return ticket
}

func expectUnauthenticated(t *testing.T, s tickets, ticket, what string) {
	t.Helper()
	_, _, err := s.Redeem(ctxb, ticket)
	var e *model.Error
	if !errors.As(err, &e) || e.Code != model.EUnauthenticated {
		t.Errorf("%s: got %v, want unauthenticated", what, err)
	}
}

// testTickets is the contract of both ticket stores. newBus returns a
// factory of stores that share their tickets, as instances sharing one
// Redis do, with lifetime ttl.
func testTickets(t *testing.T, newBus func(t *testing.T, ttl time.Duration) func() tickets) {
	newStore := func(t *testing.T, ttl time.Duration) tickets { return newBus(t, ttl)() }
	t.Run("SingleUse", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, 0)
		before := time.Now()
		ticket, expires, err := s.Issue(ctxb, 3, 9)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := base64.RawURLEncoding.DecodeString(ticket); err != nil || len(b) != 32 {
			t.Errorf("ticket %q: want 32 bytes base64url without padding", ticket)
		}
		if d := expires.Sub(before); d < DefaultTicketTTL || d > DefaultTicketTTL+time.Second {
			t.Errorf("expires in %v, want %v", d, DefaultTicketTTL)
		}
		user, session, err := s.Redeem(ctxb, ticket)
		if err != nil || user != 3 || session != 9 {
			t.Fatalf("redeem: got %d, %d, %v; want 3, 9", user, session, err)
		}
		expectUnauthenticated(t, s, ticket, "second redeem")
		other := mustIssue(t, s, 3, 9)
		if other == ticket {
			t.Error("issued the same ticket twice")
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, 0)
		valid := mustIssue(t, s, 1, 1)
		for name, bad := range map[string]string{
			"Empty":    "",
			"Random":   base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
			"Short":    valid[:42],
			"Long":     valid + "A",
			"Padded":   valid + "=",
			"BadChars": "+" + valid[1:],
			"Huge":     strings.Repeat("A", 1<<16),
		} {
			expectUnauthenticated(t, s, bad, name)
		}
		if _, _, err := s.Redeem(ctxb, valid); err != nil {
			t.Errorf("a valid ticket after bad ones: %v", err)
		}
	})
	t.Run("Expired", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, 100*time.Millisecond)
		ticket := mustIssue(t, s, 1, 1)
		time.Sleep(200 * time.Millisecond) // the lifetime itself must pass
		expectUnauthenticated(t, s, ticket, "expired")
	})
	t.Run("ConcurrentRedeem", func(t *testing.T) {
		t.Parallel()
		newShared := newBus(t, 0)
		stores := []tickets{newShared(), newShared()}
		ticket := mustIssue(t, stores[0], 1, 1)
		var ok atomic.Int64
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				if _, _, err := stores[i%2].Redeem(ctxb, ticket); err == nil {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		if got := ok.Load(); got != 1 {
			t.Errorf("%d redeems succeeded, want exactly 1", got)
		}
	})
}

func TestMemoryTickets(t *testing.T) {
	t.Parallel()
	testTickets(t, func(t *testing.T, ttl time.Duration) func() tickets {
		s := NewMemoryTickets(ttl) // a memory store serves one instance
		return func() tickets { return s }
	})
}

func TestRedisTickets(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	testTickets(t, func(t *testing.T, ttl time.Duration) func() tickets {
		prefix := redistest.Prefix()
		return func() tickets { return NewRedisTickets(redistest.NewClient(t, url), prefix, ttl) }
	})
}

// A ticket issued by one instance is redeemed by another, and Redis holds
// only its hash, with an expiry.
// On Redis Cluster a ticket is one key: issue and redeem work unchanged.
func TestRedisTickets_Cluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	testTickets(t, func(t *testing.T, ttl time.Duration) func() tickets {
		prefix := redistest.Prefix()
		return func() tickets { return NewRedisTickets(cluster.NewClient(), prefix, ttl) }
	})
}

func TestRedisTickets_Shared(t *testing.T) {
	t.Parallel()
	url, prefix := redistest.URL(t), redistest.Prefix()
	a := NewRedisTickets(redistest.NewClient(t, url), prefix, 0)
	b := NewRedisTickets(redistest.NewClient(t, url), prefix, 0)
	ticket := mustIssue(t, a, 5, 6)
	keys, err := a.client.Keys(ctxb, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || strings.Contains(keys[0], ticket) {
		t.Fatalf("keys %q: want one, not naming the ticket", keys)
	}
	if ttl := a.client.PTTL(ctxb, keys[0]).Val(); ttl <= 0 || ttl > DefaultTicketTTL {
		t.Errorf("key TTL %v, want up to %v", ttl, DefaultTicketTTL)
	}
	if user, session, err := b.Redeem(ctxb, ticket); err != nil || user != 5 || session != 6 {
		t.Fatalf("redeem on b: got %d, %d, %v; want 5, 6", user, session, err)
	}
	expectUnauthenticated(t, a, ticket, "redeem on a after b")
}

// Expired tickets are swept out as new ones are issued.
func TestMemoryTickets_Sweep(t *testing.T) {
	t.Parallel()
	s := NewMemoryTickets(time.Minute)
	clock := time.Unix(0, 0).Add(time.Hour)
	s.now = func() time.Time { return clock } // only this goroutine issues
	for range 100 {
		mustIssue(t, s, 1, 1)
	}
	clock = clock.Add(time.Minute)
	mustIssue(t, s, 1, 1)
	s.mu.Lock()
	n := len(s.tickets)
	s.mu.Unlock()
	if n != 1 {
		t.Errorf("%d tickets held, want 1: the expired ones swept", n)
	}
}
