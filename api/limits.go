package api

import (
	"context"
	"fmt"
	"math"
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
}

func (l Limits) withDefaults() Limits {
	l.AuthPerIP = l.AuthPerIP.or(Rate{N: 30, Per: time.Minute})
	l.AuthPerUsername = l.AuthPerUsername.or(Rate{N: 10, Per: time.Minute})
	l.PostPerUser = l.PostPerUser.or(Rate{N: 20, Per: 2 * time.Second})
	l.TicketPerUser = l.TicketPerUser.or(Rate{N: 30, Per: time.Minute})
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
