// Package ratelimit limits how often something may happen per key (a client
// IP, a username, a user). Memory keeps the state of one process; Redis
// shares it between every instance of a deployment, behind the same Allow
// method. It imports the standard library and the Redis client only.
package ratelimit

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// sweepEvery is how often each shard forgets idle keys.
const sweepEvery = time.Minute

const shardCount = 16 // spreads lock contention between keys

// Memory is an in-memory rate limiter using GCRA, the generic cell rate
// algorithm: a token bucket that stores one time per key. Keys that have been
// idle long enough for their bucket to refill are forgotten, so memory holds
// only the keys seen within the last period of their rate. It is safe for
// concurrent use.
type Memory struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [shardCount]shard
}

type shard struct {
	mu        sync.Mutex
	tat       map[string]time.Time // theoretical arrival time: when the key's bucket is full again
	lastSweep time.Time
}

// NewMemory returns an empty in-memory limiter.
func NewMemory() *Memory {
	return newMemory(time.Now)
}

func newMemory(now func() time.Time) *Memory {
	m := &Memory{now: now, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].tat = make(map[string]time.Time)
	}
	return m
}

var errBadRate = errors.New("ratelimit: n and per must be positive")

// Allow takes one token from key's bucket, which holds n tokens and refills
// at n per per: it allows bursts of n and n per per sustained. When the bucket
// is empty, it returns false and how long until a token is available. It
// returns an error only if n or per is not positive.
func (m *Memory) Allow(_ context.Context, key string, n int, per time.Duration) (bool, time.Duration, error) {
	if n <= 0 || per <= 0 {
		return false, 0, errBadRate
	}
	interval := per / time.Duration(n)
	now := m.now()
	s := &m.shards[maphash.String(m.seed, key)%shardCount]
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastSweep) >= sweepEvery {
		s.sweep(now)
	}
	tat := s.tat[key]
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	if wait := next.Sub(now) - per; wait > 0 {
		return false, wait, nil
	}
	s.tat[key] = next
	return true, 0, nil
}

// sweep forgets the keys whose buckets are full again: for them, having no
// entry means the same.
func (s *shard) sweep(now time.Time) {
	for k, tat := range s.tat {
		if !tat.After(now) {
			delete(s.tat, k)
		}
	}
	s.lastSweep = now
}
