package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/api"
	"parley/auth"
	"parley/notify"
	"parley/ratelimit"
)

// redisTimeout bounds how long serve waits for Redis at startup.
const redisTimeout = 10 * time.Second

// shared is the state that instances must share: the fan-out of events,
// presence, WebSocket tickets and rate-limit counters. With REDIS_URL it
// lives in Redis; without it, in this process, which then must be the only
// instance.
type shared struct {
	broker   notify.Broker
	presence notify.Presence
	tickets  api.Tickets
	limiter  api.Limiter
	redis    redis.UniversalClient // nil without REDIS_URL
}

// newShared connects to Redis if cfg asks for it.
func newShared(ctx context.Context, cfg serveConfig, logger *slog.Logger) (shared, error) {
	if cfg.RedisURL == "" {
		return shared{
			broker:   notify.NewMemoryBroker(),
			presence: notify.NewMemoryPresence(),
			tickets:  auth.NewMemoryTickets(0),
			limiter:  ratelimit.NewMemory(),
		}, nil
	}
	redis.SetLogger(redisLogger{logger})
	client, err := newRedisClient(cfg)
	if err != nil {
		return shared{}, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		_ = client.Close()
		return shared{}, fmt.Errorf("connect to Redis at %s: %w", redactURL(cfg.RedisURL), err)
	}
	var broker notify.Broker = notify.NewRedisBroker(client, cfg.RedisPrefix, logger)
	if c, ok := client.(*redis.ClusterClient); ok {
		broker = notify.NewRedisClusterBroker(c, cfg.RedisPrefix, 0, logger)
	}
	return shared{
		broker:   broker,
		presence: notify.NewRedisPresence(client, cfg.RedisPrefix, instanceID(), logger),
		tickets:  auth.NewRedisTickets(client, cfg.RedisPrefix, 0),
		limiter:  ratelimit.NewFailover(ratelimit.NewRedis(client, cfg.RedisPrefix), ratelimit.NewMemory(), logger),
		redis:    client,
	}, nil
}

// close releases the Redis connection, if any; the Hub has closed the
// broker by then.
func (s shared) close() error {
	if s.redis == nil {
		return nil
	}
	return s.redis.Close()
}

// redisLogger routes go-redis's own messages (reconnects, dial failures)
// into the process's structured log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, args ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, args...))
}

// instanceID names this process among the instances sharing Redis, for
// presence records: unique even when two start on one host at once.
func instanceID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// newRedisClient returns a client for REDIS_URL: a cluster client with
// PARLEY_REDIS_CLUSTER. It fails fast while Redis is down: events are then
// lost anyway (clients resync when it is back) and rate limits fall back to
// this process, so waiting for Redis would only slow every request down.
func newRedisClient(cfg serveConfig) (redis.UniversalClient, error) {
	if cfg.RedisCluster {
		opts, err := redis.ParseClusterURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("parse REDIS_URL: %w", err)
		}
		if opts.DialTimeout == 0 {
			opts.DialTimeout = time.Second
		}
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = time.Second
	}
	if opts.DialerRetries == 0 {
		opts.DialerRetries = 1
	}
	return redis.NewClient(opts), nil
}
