package ratelimit

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// newRedisClient connects to the Redis that make test starts; a missing
// one fails the test rather than skipping it.
func newRedisClient(tb testing.TB) *redis.Client {
	tb.Helper()
	url := os.Getenv("PARLEY_TEST_REDIS_URL")
	if url == "" {
		tb.Fatal("PARLEY_TEST_REDIS_URL is not set: run the tests with make test, or point it at a Redis")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("parse redis url: %v", err)
	}
	client := redis.NewClient(opt)
	tb.Cleanup(func() { _ = client.Close() })
	if err := client.Ping(context.Background()).Err(); err != nil {
		tb.Fatalf("redis ping: %v", err)
	}
	return client
}

var prefixSeq atomic.Int64

// uniquePrefix keeps each test's keys apart from every other's.
func uniquePrefix() string {
	return fmt.Sprintf("parleytest:%d:rl%d:", os.Getpid(), prefixSeq.Add(1))
}

// Two limiters on one Redis, as two instances have, share every bucket.
func TestRedis_Allow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prefix := uniquePrefix()
	a, b := NewRedis(newRedisClient(t), prefix), NewRedis(newRedisClient(t), prefix)
	allow := func(t *testing.T, l *Redis, key string, n int, per time.Duration) (bool, time.Duration) {
		t.Helper()
		ok, wait, err := l.Allow(ctx, key, n, per)
		if err != nil {
			t.Fatal(err)
		}
		return ok, wait
	}

	t.Run("BurstSharedAcrossInstances", func(t *testing.T) {
		for i := range 20 {
			l := a
			if i%2 == 1 {
				l = b
			}
			if ok, _ := allow(t, l, "burst", 20, 2*time.Second); !ok {
				t.Fatalf("got request %d refused, want a burst of 20 allowed", i+1)
			}
		}
		for _, l := range []*Redis{a, b} {
			ok, wait := allow(t, l, "burst", 20, 2*time.Second)
			// 100 ms per token, less what has passed since the burst.
			if ok || wait <= 0 || wait > 100*time.Millisecond {
				t.Errorf("got %v, %v; want refused for up to 100ms (10 per second)", ok, wait)
			}
		}
		if ok, _ := allow(t, b, "other", 20, 2*time.Second); !ok {
			t.Error("got another key refused, want keys independent")
		}
	})

	t.Run("RetryAfter", func(t *testing.T) {
		for range 3 {
			allow(t, a, "login", 3, time.Minute)
		}
		ok, wait := allow(t, b, "login", 3, time.Minute)
		if ok || wait > 20*time.Second || wait < 19*time.Second {
			t.Errorf("got %v, %v; want refused for about 20s", ok, wait)
		}
	})

	t.Run("Refills", func(t *testing.T) {
		for range 2 {
			allow(t, a, "refill", 2, 200*time.Millisecond)
		}
		ok, wait := allow(t, a, "refill", 2, 200*time.Millisecond)
		if ok {
			t.Fatal("got allowed past the burst, want refused")
		}
		time.Sleep(wait) // the time the limiter asked for, no more
		if ok, wait := allow(t, b, "refill", 2, 200*time.Millisecond); !ok {
			t.Errorf("got refused for %v after waiting retryAfter, want allowed", wait)
		}
	})

	t.Run("KeysExpire", func(t *testing.T) {
		allow(t, a, "expiring", 10, time.Minute)
		ttl, err := a.client.PTTL(ctx, prefix+"ratelimit:expiring").Result()
		if err != nil {
			t.Fatal(err)
		}
		// One token's worth: the time until the bucket is full again.
		if ttl <= 0 || ttl > 6*time.Second {
			t.Errorf("got a TTL of %v, want up to 6s", ttl)
		}
	})

	t.Run("ErrBadRate", func(t *testing.T) {
		for _, r := range []struct {
			n   int
			per time.Duration
		}{{0, time.Second}, {-1, time.Second}, {1, 0}} {
			if _, _, err := a.Allow(ctx, "bad", r.n, r.per); err == nil {
				t.Errorf("got no error for %d per %v, want one", r.n, r.per)
			}
		}
	})
}

// Concurrent callers on two instances never get more than the burst.
func TestRedis_Concurrent(t *testing.T) {
	t.Parallel()
	prefix := uniquePrefix()
	limiters := []*Redis{NewRedis(newRedisClient(t), prefix), NewRedis(newRedisClient(t), prefix)}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		l := limiters[i%2]
		wg.Go(func() {
			for range 50 {
				ok, _, err := l.Allow(context.Background(), "shared", 50, time.Hour)
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
}
