package main

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"parley/bench/procstat"
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
	cpu      map[string]time.Duration // CPU time per request of each -cpu process and the client
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// runPhase runs op in a closed loop on one goroutine per user: for warmup
// unmeasured, then for duration measured. Only requests that start and end
// inside the measured window count. The first error stops the phase. The
// CPU time of procs and of this process is sampled at the window's edges.
func runPhase(ctx context.Context, name string, users []*benchUser, warmup, duration time.Duration, procs []procstat.Proc,
	op func(ctx context.Context, u *benchUser, k int) error,
) result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now().Add(warmup)
	end := start.Add(duration)

	tallies := make([]tally, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			tallies[i] = drive(ctx, cancel, u, start, end, op)
		})
	}
	cpu0, cpuErr := cpuTimesAt(ctx, start, procs)
	cpu1, cpuErr1 := cpuTimesAt(ctx, end, procs)
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
	if cpuErr == nil && cpuErr1 == nil && r.requests > 0 {
		r.cpu = map[string]time.Duration{}
		for k, v := range cpu1 {
			r.cpu[k] = (v - cpu0[k]) / time.Duration(r.requests)
		}
	}
	slices.Sort(all)
	r.p50, r.p99 = percentile(all, 0.50), percentile(all, 0.99)
	return r
}

// cpuTimesAt waits until t and then returns cpuTimes(procs).
func cpuTimesAt(ctx context.Context, t time.Time, procs []procstat.Proc) (map[string]time.Duration, error) {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timer.C:
	}
	return cpuTimes(procs)
}

// tally is what one client measured.
type tally struct {
	lat      []time.Duration
	errors   int
	firstErr error
}

// drive runs op for u in a closed loop until end, timing the requests that
// start and finish inside [start, end]. An error cancels the whole phase.
func drive(ctx context.Context, cancel func(), u *benchUser, start, end time.Time,
	op func(ctx context.Context, u *benchUser, k int) error,
) tally {
	t := tally{lat: make([]time.Duration, 0, 4096)}
	for k := 0; ctx.Err() == nil; k++ {
		t0 := time.Now()
		if !t0.Before(end) {
			break
		}
		err := op(ctx, u, k)
		t1 := time.Now()
		if err != nil {
			if ctx.Err() == nil { // not a request cut short by another client's failure
				t.errors++
				t.firstErr = err
			}
			cancel()
			break
		}
		if !t0.Before(start) && !t1.After(end) {
			t.lat = append(t.lat, t1.Sub(t0))
		}
	}
	return t
}

// percentile returns the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
