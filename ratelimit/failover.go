package ratelimit

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// limiter is what Failover combines: *Redis and *Memory.
type limiter interface {
	Allow(ctx context.Context, key string, n int, per time.Duration) (bool, time.Duration, error)
}

// retryPrimary is how long Failover stays with its fallback after the
// primary failed, so that requests do not each wait for a Redis that is down.
const retryPrimary = 2 * time.Second

// Failover asks its primary limiter (shared, in Redis) and, when that
// fails, its fallback (in this process). While Redis is down each instance
// then enforces the limits on its own, rather than refusing every request
// or letting every request through. It logs when it switches either way.
type Failover struct {
	primary, fallback limiter
	log               *slog.Logger
	now               func() time.Time
	failing           atomic.Bool
	retryAt           atomic.Int64 // Unix ns before which the primary is not asked
}

// NewFailover returns a limiter that uses primary, or fallback while primary
// fails.
func NewFailover(primary, fallback limiter, logger *slog.Logger) *Failover {
	return &Failover{primary: primary, fallback: fallback, log: logger, now: time.Now}
}

// Allow is primary's Allow, or fallback's when primary returns an error.
func (f *Failover) Allow(ctx context.Context, key string, n int, per time.Duration) (bool, time.Duration, error) {
	if f.now().UnixNano() < f.retryAt.Load() {
		return f.fallback.Allow(ctx, key, n, per)
	}
	ok, wait, err := f.primary.Allow(ctx, key, n, per)
	if err == nil || ctx.Err() != nil {
		if err == nil && f.failing.CompareAndSwap(true, false) {
			f.log.Info("shared rate limits are back")
		}
		return ok, wait, err
	}
	f.retryAt.Store(f.now().Add(retryPrimary).UnixNano())
	if f.failing.CompareAndSwap(false, true) {
		f.log.Warn("shared rate limits unavailable: limiting per instance", "err", err)
	}
	return f.fallback.Allow(ctx, key, n, per)
}
