package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testLimiter is the contract that Memory and Redis both pass. newPair
// returns two limiters that share their buckets, as two instances sharing
// one Redis do (for Memory, the same limiter twice); each subtest gets a
// fresh pair.
func testLimiter(t *testing.T, newPair func(t *testing.T) (a, b limiter)) {
	t.Helper()
	ctx := context.Background()
	allow := func(t *testing.T, l limiter, key string, n int, per time.Duration) (bool, time.Duration) {
		t.Helper()
		ok, wait, err := l.Allow(ctx, key, n, per)
		if err != nil {
			t.Fatal(err)
		}
		return ok, wait
	}

	t.Run("BurstShared", func(t *testing.T) {
		t.Parallel()
		a, b := newPair(t)
		for i := range 20 {
			l := a
			if i%2 == 1 {
				l = b
			}
			if ok, _ := allow(t, l, "burst", 20, 2*time.Second); !ok {
				t.Fatalf("got request %d refused, want a burst of 20 allowed", i+1)
			}
		}
		for _, l := range []limiter{a, b} {
			ok, wait := allow(t, l, "burst", 20, 2*time.Second)
			// 100 ms per token, less any time that has passed since the burst.
			if ok || wait <= 0 || wait > 100*time.Millisecond {
				t.Errorf("got %v, %v; want refused for up to 100ms (10 per second)", ok, wait)
			}
		}
		if ok, _ := allow(t, b, "other", 20, 2*time.Second); !ok {
			t.Error("got another key refused, want keys independent")
		}
	})

	t.Run("RetryAfter", func(t *testing.T) {
		t.Parallel()
		a, b := newPair(t)
		for range 3 {
			allow(t, a, "login", 3, time.Minute)
		}
		ok, wait := allow(t, b, "login", 3, time.Minute)
		if ok || wait > 20*time.Second || wait < 19*time.Second {
			t.Errorf("got %v, %v; want refused for about 20s", ok, wait)
		}
	})

	t.Run("ErrBadRate", func(t *testing.T) {
		t.Parallel()
		a, _ := newPair(t)
		for _, r := range []struct {
			n   int
			per time.Duration
		}{{0, time.Second}, {-1, time.Second}, {1, 0}} {
			if _, _, err := a.Allow(ctx, "bad", r.n, r.per); err == nil {
				t.Errorf("got no error for %d per %v, want one", r.n, r.per)
			}
		}
	})

	// Concurrent callers on both limiters never get more than the burst.
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		a, b := newPair(t)
		limiters := []limiter{a, b}
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for i := range 8 {
			l := limiters[i%2]
			wg.Go(func() {
				for range 50 {
					ok, _, err := l.Allow(ctx, "shared", 50, time.Hour)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if got := allowed.Load(); got != 50 {
			t.Errorf("got %d allowed, want exactly 50", got)
		}
	})
}
