package api

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"parley/model"
)

// Limiter decides whether an event keyed by key (an IP, a username, a user)
// may happen now. *ratelimit.Memory implements it.
type Limiter interface {
	// Allow takes one of the n tokens of key's bucket, which refills at n per
	// per. If none is left, it returns false and how long until one is.
	Allow(ctx context.Context, key string, n int, per time.Duration) (ok bool, retryAfter time.Duration, err error)
}

// Rate allows bursts of N events and N per Per sustained: Rate{20, 2 *
// time.Second} is 10 per second with bursts of 20.
type Rate struct {
	N   int
	Per time.Duration
}

// Limits are the rates each client may not exceed.
type Limits struct {
	// AuthPerIP caps logins from one client IP, and separately registrations.
	// Default 30 per minute.
	AuthPerIP Rate
	// AuthPerUsername caps logins naming one username, and separately
	// registrations, against password guessing spread over many IPs. Default
	// 10 per minute.
	AuthPerUsername Rate
	// PostPerUser caps the messages one user posts. Default 10 per second
	// with bursts of 20.
	PostPerUser Rate
	// TicketPerUser caps the WebSocket tickets one user asks for: one per
	// browser (re)connect. Default 30 per minute.
	TicketPerUser Rate
	// DevicePerUser caps the push devices one user registers. Default 10
	// per minute.
	DevicePerUser Rate
}

func (l Limits) withDefaults() Limits {
	l.AuthPerIP = l.AuthPerIP.or(Rate{N: 30, Per: time.Minute})
	l.AuthPerUsername = l.AuthPerUsername.or(Rate{N: 10, Per: time.Minute})
	l.PostPerUser = l.PostPerUser.or(Rate{N: 20, Per: 2 * time.Second})
	l.TicketPerUser = l.TicketPerUser.or(Rate{N: 30, Per: time.Minute})
	l.DevicePerUser = l.DevicePerUser.or(Rate{N: 10, Per: time.Minute})
	return l
}

func (r Rate) or(def Rate) Rate {
	if r.N <= 0 || r.Per <= 0 {
		return def
	}
	return r
}

// limit charges one event to key. Over the rate, it sets Retry-After in whole
// seconds and returns ERateLimited.
func limit(ctx context.Context, w http.ResponseWriter, limiter Limiter, key string, rate Rate) error {
	ok, wait, err := limiter.Allow(ctx, key, rate.N, rate.Per)
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	if ok {
		return nil
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return model.Errorf(model.ERateLimited, "Too many requests; try again in %d seconds.", secs)
}

// clientIP returns the address rate limits key a client by. Behind a trusted
// proxy that is X-Real-IP, or else the last X-Forwarded-For entry (the one
// the proxy added; earlier ones come from the client). An IPv6 client is keyed
// by its /64, since one host commonly holds a whole /64.
func clientIP(r *http.Request, trustProxy bool) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if trustProxy {
		if real := strings.TrimSpace(r.Header.Get("X-Real-IP")); real != "" {
			host = real
		} else if fwd := r.Header.Values("X-Forwarded-For"); len(fwd) > 0 {
			last := fwd[len(fwd)-1]
			host = strings.TrimSpace(last[strings.LastIndexByte(last, ',')+1:])
		}
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
	return addr.String()
}
