// Package redistest connects tests to the Redis that make test starts, as
// internal/dbtest does for PostgreSQL. A test never skips for a missing Redis: it
// fails.
package redistest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the variable that holds the Redis URL, set by
// scripts/with-test-services.sh.
const EnvURL = "PARLEY_TEST_REDIS_URL"

// URL returns the Redis to test against.
func URL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		tb.Fatalf("redistest: %s is not set; run the tests with make test, or point it at a Redis", EnvURL)
	}
	return url
}

// NewClient connects to url and checks that it answers; the client is
// closed when tb ends.
func NewClient(tb testing.TB, url string) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("redistest: parse %s: %v", EnvURL, err)
	}
	client := redis.NewClient(opt)
	tb.Cleanup(func() { _ = client.Close() })
	if err := client.Ping(context.Background()).Err(); err != nil {
		tb.Fatalf("redistest: ping: %v", err)
	}
	return client
}

var prefixSeq atomic.Int64

// Prefix returns a key and channel prefix that no other test, in this
// process or another, uses.
func Prefix() string {
	return fmt.Sprintf("parleytest:%d:%d:", os.Getpid(), prefixSeq.Add(1))
}
