package ratelimit

import (
	"context"
	"fmt"
	"os"
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

// TestRedis_Allow checks what the contract cannot: Redis's own clock and
// key expiry.
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
}

// Two limiters on one Redis, as two instances have, share every bucket.
func TestRedis(t *testing.T) {
	t.Parallel()
	testLimiter(t, func(t *testing.T) (limiter, limiter) {
		prefix := uniquePrefix()
		return NewRedis(newRedisClient(t), prefix), NewRedis(newRedisClient(t), prefix)
	})
}
