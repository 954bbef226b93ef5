package ratelimit

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestFailover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	t.Run("UsesRedisWhileItAnswers", func(t *testing.T) {
		t.Parallel()
		client := newRedisClient(t)
		prefix := uniquePrefix()
		a := NewFailover(NewRedis(client, prefix), NewMemory(), logger)
		b := NewFailover(NewRedis(client, prefix), NewMemory(), logger)
		// Two instances share one bucket of 2.
		for i, l := range []*Failover{a, b, a} {
			ok, _, err := l.Allow(ctx, "k", 2, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if want := i < 2; ok != want {
				t.Errorf("call %d: got allowed=%v, want %v", i, ok, want)
			}
		}
	})

	t.Run("FallsBackWhenRedisIsDown", func(t *testing.T) {
		t.Parallel()
		// A real client to a port nothing listens on.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = client.Close() })

		l := NewFailover(NewRedis(client, uniquePrefix()), NewMemory(), logger)
		for i := range 3 {
			ok, wait, err := l.Allow(ctx, "k", 2, time.Minute)
			if err != nil {
				t.Fatalf("call %d: got error %v, want the fallback to answer", i, err)
			}
			if want := i < 2; ok != want {
				t.Errorf("call %d: got allowed=%v, want %v (the fallback still limits)", i, ok, want)
			}
			if !ok && wait <= 0 {
				t.Errorf("call %d: got wait %v, want a positive Retry-After", i, wait)
			}
		}
	})
}
