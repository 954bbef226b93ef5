package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"parley/model"
)

// hashGate bounds how many password hashes run at once. Each argon2id hash
// holds about 19 MiB for its whole run, so without a bound a burst of logins
// and registrations grows the process by 19 MiB per request in flight (60 at
// once took it past 1 GiB). With one hash per CPU the CPUs stay busy and
// memory stays flat; a request that cannot get a slot within wait is turned
// away with 503 and Retry-After rather than queued without end, and every
// other request keeps being served meanwhile.
type hashGate struct {
	slots chan struct{}
	wait  time.Duration
}

func newHashGate(n int, wait time.Duration) *hashGate {
	return &hashGate{slots: make(chan struct{}, n), wait: wait}
}

// hashRetryAfter is what a turned-away client is told to wait, in seconds: a
// slot frees up every few tens of milliseconds, so a short wait is enough.
const hashRetryAfter = 1

// do runs hash once a slot is free. Returns EUnavailable, with Retry-After
// set, if none frees up within the gate's wait, and the context's error if
// the client goes away first.
func (g *hashGate) do(ctx context.Context, w http.ResponseWriter, hash func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		t := time.NewTimer(g.wait)
		defer t.Stop()
		select {
		case g.slots <- struct{}{}:
		case <-t.C:
			w.Header().Set("Retry-After", strconv.Itoa(hashRetryAfter))
			return model.Errorf(model.EUnavailable, "The server is busy checking passwords; try again in a second.")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-g.slots }()
	hash()
	return nil
}
