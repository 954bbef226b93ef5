package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is a fake time source that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestMemory() (*Memory, *clock) {
	c := &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	return newMemory(c.Now), c
}

func TestMemory_Allow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, c := newTestMemory()
	allow := func(t *testing.T, key string, n int, per time.Duration) (bool, time.Duration) {
		t.Helper()
		ok, wait, err := m.Allow(ctx, key, n, per)
		if err != nil {
			t.Fatal(err)
		}
		return ok, wait
	}

	t.Run("Burst", func(t *testing.T) {
		for i := range 20 {
			if ok, _ := allow(t, "burst", 20, 2*time.Second); !ok {
				t.Fatalf("got request %d refused, want a burst of 20 allowed", i+1)
			}
		}
		ok, wait := allow(t, "burst", 20, 2*time.Second)
		if ok || wait != 100*time.Millisecond {
			t.Errorf("got %v, %v; want refused for 100ms (10 per second)", ok, wait)
		}
		if ok, _ := allow(t, "other", 20, 2*time.Second); !ok {
			t.Error("got another key refused, want keys independent")
		}
		c.Advance(100 * time.Millisecond)
		if ok, _ := allow(t, "burst", 20, 2*time.Second); !ok {
			t.Error("got refused after the wait, want allowed")
		}
		if ok, _ := allow(t, "burst", 20, 2*time.Second); ok {
			t.Error("got allowed twice after one interval, want refused")
		}
	})

	t.Run("RetryAfter", func(t *testing.T) {
		for range 3 {
			allow(t, "login", 3, time.Minute)
		}
		ok, wait := allow(t, "login", 3, time.Minute)
		if ok || wait != 20*time.Second {
			t.Errorf("got %v, %v; want refused for 20s", ok, wait)
		}
		c.Advance(time.Minute)
		for i := range 3 {
			if ok, _ := allow(t, "login", 3, time.Minute); !ok {
				t.Fatalf("got request %d refused after a full period, want the bucket refilled", i+1)
			}
		}
	})
}

func TestMemory_ForgetsIdleKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, c := newTestMemory()
	for i := range 1000 {
		if _, _, err := m.Allow(ctx, fmt.Sprint("ip-", i), 10, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(sweepEvery)
	for i := range shardCount * 50 { // touch every shard, so each sweeps
		if _, _, err := m.Allow(ctx, fmt.Sprint("user-", i), 1, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := m.keys(), shardCount*50; got != want {
		t.Errorf("got %d keys, want %d: the idle ones forgotten, the fresh ones kept", got, want)
	}
}

// Memory passes the contract on a clock that stands still, so nothing refills.
func TestMemory(t *testing.T) {
	t.Parallel()
	testLimiter(t, func(*testing.T) (limiter, limiter) {
		m, _ := newTestMemory()
		return m, m
	})
}

// keys counts the keys the limiter remembers.
func (m *Memory) keys() int {
	n := 0
	for i := range m.shards {
		m.shards[i].mu.Lock()
		n += len(m.shards[i].tat)
		m.shards[i].mu.Unlock()
	}
	return n
}
