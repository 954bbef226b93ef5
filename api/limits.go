package api

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"reflect"
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
// time.Second} is 10 per second with bursts of 20. Its text form is
// N/PERIOD, such as 20/2s or 30/1m.
type Rate struct {
	N   int
	Per time.Duration
}

// Limits are the rates each client may not exceed. A zero Rate means its
// value in DefaultLimits.
type Limits struct {
	// AuthPerIP caps logins from one client IP, and separately registrations.
	AuthPerIP Rate
	// AuthPerUsername caps logins naming one username, and separately
	// registrations, against password guessing spread over many IPs.
	AuthPerUsername Rate
	// PostPerUser caps the messages one user posts.
	PostPerUser Rate
	// TicketPerUser caps the WebSocket tickets one user asks for: one per
	// browser (re)connect.
	TicketPerUser Rate
}

// DefaultLimits are the rates in force where a Limits field is zero; serve's
// settings show them as their defaults.
var DefaultLimits = Limits{
	AuthPerIP:       Rate{N: 30, Per: time.Minute},
	AuthPerUsername: Rate{N: 10, Per: time.Minute},
	PostPerUser:     Rate{N: 20, Per: 2 * time.Second},
	TicketPerUser:   Rate{N: 30, Per: time.Minute},
}

// withDefaults fills each zero Rate from DefaultLimits. It walks the fields
// by reflection so that a new limit is a field and a default, nothing more.
func (l Limits) withDefaults() Limits {
	v, def := reflect.ValueOf(&l).Elem(), reflect.ValueOf(DefaultLimits)
	for i := range v.NumField() {
		if r := v.Field(i).Interface().(Rate); r.N <= 0 || r.Per <= 0 {
			v.Field(i).Set(def.Field(i))
		}
	}
	return l
}

// String returns the rate as N/PERIOD, with the period short: 10/1m, not
// 10/1m0s.
func (r Rate) String() string {
	per := r.Per.String()
	if strings.HasSuffix(per, "m0s") {
		per = per[:len(per)-2]
	}
	if strings.HasSuffix(per, "h0m") {
		per = per[:len(per)-2]
	}
	return strconv.Itoa(r.N) + "/" + per
}

// UnmarshalText reads N/PERIOD such as "10/1m", "5/30s" or "100/1h"; N must
// be above 0 and PERIOD a positive duration.
func (r *Rate) UnmarshalText(text []byte) error {
	s := string(text)
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return fmt.Errorf("%q is not N/PERIOD such as 10/1m", s)
	}
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || count < 1 {
		return fmt.Errorf("%q: the count must be a whole number above 0", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d <= 0 {
		return fmt.Errorf("%q: the period must be a positive duration such as 1m", s)
	}
	*r = Rate{N: count, Per: d}
	return nil
}

// MarshalText is String as bytes, so that a Rate reads back as written.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

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
