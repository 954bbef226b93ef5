package notify

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"parley/internal/redistest"
	"parley/model"
)

// closeNormally closes c's WebSocket as a client going away would.
func closeNormally(t *testing.T, c *client) {
	t.Helper()
	if err := c.ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// waitOnline waits until p reports users online.
func waitOnline(t *testing.T, p Presence, users ...model.UserID) {
	t.Helper()
	waitFor(t, "users to be online", func() bool {
		online, err := p.Online(ctxb, users)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if !online[u] {
				return false
			}
		}
		return true
	})
}

// Presence events reach the members of the user's conversations, on every
// instance, when the user's first connection anywhere opens and when the
// last one closes; users who share no conversation hear nothing.
func TestHub_Presence(t *testing.T) {
	t.Parallel()
	url, prefix := redistest.URL(t), redistest.Prefix()
	m := newMembers(memberships{1: {7, 9}, 2: {7}, 3: {8}})
	newHub := func(instance string) (*testHub, *RedisPresence) {
		p := NewRedisPresence(redistest.NewClient(t, url), prefix, instance, testLogger(t))
		b := NewRedisBroker(redistest.NewClient(t, url), prefix, testLogger(t))
		return newTestHub(t, Config{Presence: p}, b, m), p
	}
	a, pa := newHub("a")
	b, pb := newHub("b")
	c2 := b.dial(t, 2, 1)
	c3 := a.dial(t, 3, 2)
	waitOnline(t, pa, 2, 3) // recorded by each instance's presence loop, in its own time

	c1 := a.dial(t, 1, 3)
	c2.expect(t, model.Presence(1, true, nil)) // published by A, delivered by B
	checkOnline(t, pb, map[model.UserID]bool{1: true, 2: true, 3: true, 4: false})

	// Each instance records its users in its own time, so the test waits
	// for each record before the next step: a client could see an extra
	// event otherwise, though always the right state last.
	rc := redistest.NewClient(t, url)
	recorded := func(instance string, want bool) {
		t.Helper()
		waitFor(t, "instance "+instance+"'s record of user 1", func() bool {
			err := rc.ZScore(ctxb, prefix+"presence:user:1", instance).Err()
			return (err == nil) == want
		})
	}
	c1b := b.dial(t, 1, 4) // a second device, on the other instance: still online
	recorded("b", true)
	closeNormally(t, c1) // one device left: still online
	recorded("a", false)
	closeNormally(t, c1b)
	c2.expect(t, model.Presence(1, false, nil))
	checkOnline(t, pa, map[model.UserID]bool{1: false, 2: true})

	// Fences: nothing else was said, and nothing at all to user 3.
	b.Publish(ctxb, model.ReadUpdated(2, 7, 1))
	c2.expect(t, model.ReadUpdated(2, 7, 1))
	a.Publish(ctxb, model.ReadUpdated(3, 8, 1))
	c3.expect(t, model.ReadUpdated(3, 8, 1))
}

// Only the members of conversations of at most PresenceMaxMembers hear of
// each other's presence: in a big channel, n members coming online would
// otherwise send n² frames.
func TestHub_PresenceSmallConversationsOnly(t *testing.T) {
	t.Parallel()
	// Channel 7 has 4 members, over the limit of 3; 8 has 3, and 9 is the
	// direct conversation of users 1 and 5.
	m := newMembers(memberships{1: {7, 8, 9}, 2: {7}, 3: {7, 8}, 4: {7, 8}, 5: {9}})
	hub := newTestHub(t, Config{Presence: NewMemoryPresence(), PresenceMaxMembers: 3}, NewMemoryBroker(), m)
	big := hub.dial(t, 2, 1)   // shares only channel 7 with user 1
	small := hub.dial(t, 3, 2) // shares channel 8
	direct := hub.dial(t, 5, 3)
	c1 := hub.dial(t, 1, 4)
	small.expect(t, model.Presence(1, true, nil))
	direct.expect(t, model.Presence(1, true, nil))
	closeNormally(t, c1)
	small.expect(t, model.Presence(1, false, nil))
	direct.expect(t, model.Presence(1, false, nil))

	// Fence: user 2 heard nothing of user 1, nor of users 3 and 5.
	hub.Publish(ctxb, model.ReadUpdated(2, 7, 1))
	big.expect(t, model.ReadUpdated(2, 7, 1))
}

// The users of a killed instance go offline, announced by a live one.
func TestHub_PresenceDeadInstance(t *testing.T) {
	t.Parallel()
	url, prefix := redistest.URL(t), redistest.Prefix()
	m := newMembers(memberships{2: {7}, 4: {7}})
	p := NewRedisPresence(redistest.NewClient(t, url), prefix, "a", testLogger(t))
	hub := newTestHub(t, Config{Presence: p, PresenceInterval: 50 * time.Millisecond},
		NewRedisBroker(redistest.NewClient(t, url), prefix, testLogger(t)), m)
	c2 := hub.dial(t, 2, 1)

	killed := NewRedisPresence(redistest.NewClient(t, url), prefix, "killed", testLogger(t))
	killed.ttl = 300 * time.Millisecond
	mustOp(t, killed.Join, []model.UserID{4}) // and never again
	c2.expect(t, model.Presence(4, false, nil))
	checkOnline(t, p, map[model.UserID]bool{4: false})
}

// A user whose connections flap produces at most one presence event per
// PresenceRate, and the last one tells the latest state.
func TestHub_PresenceRateLimited(t *testing.T) {
	t.Parallel()
	const rate = 2 * time.Second
	m := newMembers(memberships{1: {7}, 2: {7}})
	hub := newTestHub(t, Config{Presence: NewMemoryPresence(), PresenceRate: rate}, NewMemoryBroker(), m)
	observer := hub.dial(t, 2, 1)
	start := time.Now() // before the first event
	flapper := hub.dial(t, 1, 2)
	observer.expect(t, model.Presence(1, true, nil))
	for i := range 3 {
		closeNormally(t, flapper)
		waitFor(t, "the flapper to be gone", func() bool { return hub.Stats().Users == 1 })
		flapper = hub.dial(t, 1, model.SessionID(3+i))
	}
	closeNormally(t, flapper)
	observer.expect(t, model.Presence(1, false, nil))
	if took := time.Since(start); took < rate {
		t.Errorf("second presence event %v after the first, want at least %v", took, rate)
	}
	hub.Publish(ctxb, model.ReadUpdated(2, 7, 1))
	observer.expect(t, model.ReadUpdated(2, 7, 1))
}

// When an instance shuts down, its users reconnect to another within the
// records' lifetime and are never seen offline; once the records expire,
// the reaper finds them still online elsewhere and announces nothing.
func TestHub_PresenceSurvivesRestart(t *testing.T) {
	t.Parallel()
	url, prefix := redistest.URL(t), redistest.Prefix()
	m := newMembers(memberships{1: {7}, 2: {7}})
	pa := NewRedisPresence(redistest.NewClient(t, url), prefix, "a", testLogger(t))
	pa.ttl = 2 * time.Second // the time its users have to reconnect unnoticed
	pb := NewRedisPresence(redistest.NewClient(t, url), prefix, "b", testLogger(t))
	cfg := func(p Presence) Config { return Config{Presence: p, PresenceInterval: 100 * time.Millisecond} }
	a := newTestHub(t, cfg(pa), NewRedisBroker(redistest.NewClient(t, url), prefix, testLogger(t)), m)
	b := newTestHub(t, cfg(pb), NewRedisBroker(redistest.NewClient(t, url), prefix, testLogger(t)), m)
	observer := b.dial(t, 2, 1)
	c1 := a.dial(t, 1, 2)
	observer.expect(t, model.Presence(1, true, nil))

	var wg sync.WaitGroup
	wg.Go(func() { c1.expectClose(t, websocket.StatusServiceRestart) })
	ctx, cancel := context.WithTimeout(ctxb, 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	wg.Wait()
	checkOnline(t, pb, map[model.UserID]bool{1: true})
	b.dial(t, 1, 2)

	client := redistest.NewClient(t, url)
	waitFor(t, "A to be reaped", func() bool {
		err := client.ZScore(ctxb, prefix+"presence:instances", "a").Err()
		return errors.Is(err, redis.Nil)
	})
	b.Publish(ctxb, model.ReadUpdated(2, 7, 1))
	observer.expect(t, model.ReadUpdated(2, 7, 1)) // and no presence event before it
	checkOnline(t, pb, map[model.UserID]bool{1: true})
}
