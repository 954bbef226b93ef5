package api

import (
	"context"
	"fmt"
	"math"
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
	// DevicePerUser caps the push devices one user registers.
	DevicePerUser Rate
}

// DefaultLimits are the rates in force where a Limits field is zero; serve's
// settings show them as their defaults.
var DefaultLimits = Limits{
	AuthPerIP:       Rate{N: 30, Per: time.Minute},
	AuthPerUsername: Rate{N: 10, Per: time.Minute},
	PostPerUser:     Rate{N: 20, Per: 2 * time.Second},
	TicketPerUser:   Rate{N: 30, Per: time.Minute},
	DevicePerUser:   Rate{N: 10, Per: time.Minute},
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

// clientIP returns the key rate limits count a client by: its address, and
// for IPv6 its /64, since one host commonly holds a whole /64. An
// IPv4-mapped IPv6 address counts as the IPv4 address it maps.
func clientIP(r *http.Request, cfg Config) string {
	addr, _ := clientAddr(r, cfg)
	if !addr.IsValid() { // not a TCP peer, as in some tests
		return r.RemoteAddr
	}
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
	return addr.String()
}

// clientAddr returns the client's address and whether the request came
// through a trusted proxy. The peer is a trusted proxy when TrustProxy is set
// and, if TrustedProxies lists any, it is in one of them. Then the client is
// the rightmost X-Forwarded-For hop that is not itself a trusted proxy: each
// proxy appends the address it saw, so entries left of the ones our proxies
// added are whatever the client chose to send. X-Real-IP is read only when
// there is no X-Forwarded-For. Every address is parsed strictly; a hop that
// is not a plain IP address ends the walk at the last hop that is trusted,
// so a garbled header never lets a client pick its own key.
func clientAddr(r *http.Request, cfg Config) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	addr := peer.Addr().Unmap()
	if !cfg.trustedProxy(addr) {
		return addr, false
	}
	hops := forwardedFor(r.Header)
	if len(hops) == 0 {
		if real, ok := parseHop(r.Header.Get("X-Real-IP")); ok {
			return real, true
		}
		return addr, true
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			return addr, true
		}
		addr = hop
		if len(cfg.TrustedProxies) == 0 || !cfg.trustedProxy(hop) {
			// With no list, only the peer is a proxy: its entry is the client.
			return addr, true
		}
	}
	return addr, true
}

// trustedProxy reports whether a peer at addr is a proxy whose forwarding
// headers are believed.
func (c Config) trustedProxy(addr netip.Addr) bool {
	if !c.TrustProxy {
		return false
	}
	if len(c.TrustedProxies) == 0 {
		return true
	}
	for _, p := range c.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// forwardedFor returns the X-Forwarded-For hops in order, from every
// X-Forwarded-For header line.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, line := range h.Values("X-Forwarded-For") {
		for hop := range strings.SplitSeq(line, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	return hops
}

// parseHop parses one forwarded address: a plain IPv4 or IPv6 address with
// no port and no zone, IPv4-mapped ones unmapped.
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
