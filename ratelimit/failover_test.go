package ratelimit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/internal/redistest"
)

func TestFailover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	t.Run("UsesRedisWhileItAnswers", func(t *testing.T) {
		t.Parallel()
		client := redistest.NewClient(t, redistest.URL(t))
		prefix := redistest.Prefix()
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

		l := NewFailover(NewRedis(client, redistest.Prefix()), NewMemory(), logger)
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
	t.Run("ReturnsToRedis", func(t *testing.T) {
		t.Parallel()
		shared := redistest.NewClient(t, redistest.URL(t))
		// The same Redis, through a client whose connections fail while down.
		var down atomic.Bool
		down.Store(true)
		opt := *shared.Options()
		opt.MaxRetries = -1
		opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if down.Load() {
				return nil, errors.New("redis is down")
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
		client := redis.NewClient(&opt)
		t.Cleanup(func() { _ = client.Close() })

		prefix := redistest.Prefix()
		clk := &clock{now: time.Now()}
		l := NewFailover(NewRedis(client, prefix), NewMemory(), logger)
		l.now = clk.Now
		allow := func(what string, want bool) {
			t.Helper()
			ok, _, err := l.Allow(ctx, "k", 1, time.Hour)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if ok != want {
				t.Errorf("%s: got allowed=%v, want %v", what, ok, want)
			}
		}

		allow("while down", true) // the fallback's bucket
		down.Store(false)
		allow("back, within retryPrimary", false) // still the fallback, now empty
		clk.Advance(retryPrimary)
		allow("back, after retryPrimary", true) // Redis's bucket, still full
		// The last token came from Redis: another instance sees it gone.
		if ok, _, err := NewRedis(shared, prefix).Allow(ctx, "k", 1, time.Hour); err != nil || ok {
			t.Errorf("another instance after the return: got allowed=%v, err %v; want refused", ok, err)
		}
	})
}
