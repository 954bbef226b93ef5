package notify

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: every
// goroutine the package starts must end with the Close that owns it.
func TestMain(m *testing.M) {
	// go-redis logs redials to stderr; the tests that restart Redis cause
	// plenty, and the subscription logs its own state changes.
	redis.SetLogger(quietRedis{})
	goleak.VerifyTestMain(m)
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// redisURL returns the Redis that make test starts; a missing one fails the
// test rather than skipping it.
func redisURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("PARLEY_TEST_REDIS_URL")
	if url == "" {
		tb.Fatal("PARLEY_TEST_REDIS_URL is not set: run the tests with make test, or point it at a Redis")
	}
	return url
}

// newRedisClient connects to url, closing the client when tb ends.
func newRedisClient(tb testing.TB, url string) *redis.Client {
	tb.Helper()
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

// uniquePrefix keeps each test's Redis channels apart from every other's.
func uniquePrefix() string {
	return fmt.Sprintf("parleytest:%d:%d:", os.Getpid(), prefixSeq.Add(1))
}

// testLogger routes logs to tb.Log, so they show with the failing test.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
