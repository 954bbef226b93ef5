package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"parley/internal/redistest"
)

// TestRedis_Allow checks what the contract cannot: Redis's own clock and
// key expiry.
func TestRedis_Allow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prefix := redistest.Prefix()
	a, b := NewRedis(redistest.NewClient(t, redistest.URL(t)), prefix), NewRedis(redistest.NewClient(t, redistest.URL(t)), prefix)
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
		prefix := redistest.Prefix()
		return NewRedis(redistest.NewClient(t, redistest.URL(t)), prefix), NewRedis(redistest.NewClient(t, redistest.URL(t)), prefix)
	})
}

// On Redis Cluster each bucket is one key, so its script runs on one slot,
// and two instances share buckets whichever masters hold them.
func TestRedis_Cluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster := redistest.StartCluster(t, 3)
	prefix := redistest.Prefix()
	a, b := NewRedis(cluster.NewClient(), prefix), NewRedis(cluster.NewClient(), prefix)
	// Twelve keys, spread over the masters; a bucket of 3 an hour, so that
	// no refill happens during the test however slow the machine.
	for i := range 12 {
		key := fmt.Sprintf("user-%d", i)
		for j := range 3 {
			l := []*Redis{a, b}[j%2]
			if ok, _, err := l.Allow(ctx, key, 3, time.Hour); err != nil || !ok {
				t.Fatalf("%s request %d: got %v, %v; want allowed", key, j+1, ok, err)
			}
		}
		for _, l := range []*Redis{a, b} {
			if ok, wait, err := l.Allow(ctx, key, 3, time.Hour); err != nil || ok || wait <= 0 {
				t.Fatalf("%s request 4: got %v, %v, %v; want refused with a wait", key, ok, wait, err)
			}
		}
	}
}
