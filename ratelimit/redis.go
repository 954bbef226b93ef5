package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a rate limiter whose buckets live in Redis, so that a limit
// holds across every instance sharing it. It runs the same GCRA as Memory,
// in one Lua script per Allow (EVALSHA), which makes each decision atomic
// whatever the number of instances and callers. Time is Redis's clock, so
// the instances' clocks do not matter. Each key expires once its bucket is
// full again. It is safe for concurrent use.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a limiter that keeps its buckets in Redis through
// client, under keys "<prefix>ratelimit:<key>" (prefix is
// PARLEY_REDIS_PREFIX). The caller keeps ownership of client.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// gcraScript takes one token from a bucket, or reports how long until one
// is available. KEYS[1] holds the theoretical arrival time (TAT, Unix µs):
// when the bucket is full again. ARGV: the emission interval (per/n) and
// per, in µs. It returns 0 when allowed, else the wait in µs. Lua numbers
// are doubles: Unix µs (about 2^51) are exact.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + interval
local wait = nxt - now - per
if wait > 0 then return wait end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000))
return 0
`)

// Allow takes one token from key's bucket, which holds n tokens and refills
// at n per per: it allows bursts of n and n per per sustained. When the
// bucket is empty, it returns false and how long until a token is available.
// It returns an error if n or per is not positive, or if Redis fails.
func (r *Redis) Allow(ctx context.Context, key string, n int, per time.Duration) (bool, time.Duration, error) {
	if n <= 0 || per <= 0 {
		return false, 0, errBadRate
	}
	interval := max(per.Microseconds()/int64(n), 1)
	wait, err := gcraScript.Run(ctx, r.client, []string{r.prefix + "ratelimit:" + key}, interval, per.Microseconds()).Int64()
	if err != nil {
		return false, 0, fmt.Errorf("redis rate limit: %w", err)
	}
	if wait > 0 {
		return false, time.Duration(wait) * time.Microsecond, nil
	}
	return true, 0, nil
}
