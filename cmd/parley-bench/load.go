package main

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// result is what one phase measured.
type result struct {
	name     string
	clients  int
	elapsed  time.Duration // the measured window
	requests int           // requests that started and finished inside it
	p50, p99 time.Duration
	errors   int
	firstErr error
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// runPhase runs op in a closed loop on one goroutine per user: for warmup
// unmeasured, then for duration measured. Only requests that start and end
// inside the measured window count. The first error stops the phase.
func runPhase(ctx context.Context, name string, users []*benchUser, warmup, duration time.Duration,
	op func(ctx context.Context, u *benchUser, k int) error,
) result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	begin := time.Now()
	start := begin.Add(warmup)
	end := start.Add(duration)

	type tally struct {
		lat      []time.Duration
		errors   int
		firstErr error
	}
	tallies := make([]tally, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			t := &tallies[i]
			t.lat = make([]time.Duration, 0, 4096)
			for k := 0; ctx.Err() == nil; k++ {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				err := op(ctx, u, k)
				t1 := time.Now()
				if err != nil {
					if ctx.Err() == nil { // not a request cut short by another client's failure
						t.errors++
						t.firstErr = err
					}
					cancel()
					return
				}
				if !t0.Before(start) && !t1.After(end) {
					t.lat = append(t.lat, t1.Sub(t0))
				}
			}
		})
	}
	wg.Wait()

	r := result{name: name, clients: len(users), elapsed: duration}
	var all []time.Duration
	for _, t := range tallies {
		all = append(all, t.lat...)
		r.errors += t.errors
		if r.firstErr == nil {
			r.firstErr = t.firstErr
		}
	}
	if now := time.Now(); now.Before(end) { // stopped early
		r.elapsed = max(0, now.Sub(start))
	}
	r.requests = len(all)
	slices.Sort(all)
	r.p50, r.p99 = percentile(all, 0.50), percentile(all, 0.99)
	return r
}

// percentile returns the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
