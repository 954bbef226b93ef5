package api

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestClientIP checks what rate limits key a client by: IPv6 by /64,
// IPv4-mapped addresses as IPv4, and proxy headers only from a trusted peer,
// parsed strictly, taking the rightmost hop that is not a trusted proxy.
func TestClientIP(t *testing.T) {
	t.Parallel()
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name       string
		cfg        Config
		peer       string
		xff, real  string
		want       string
		wantViaPxy bool
	}{
		{"IPv4", Config{}, "192.0.2.1:5000", "", "", "192.0.2.1", false},
		{"IPv6By64", Config{}, "[2001:db8:1:2:aaaa::1]:5000", "", "", "2001:db8:1:2::/64", false},
		{"IPv6Same64", Config{}, "[2001:db8:1:2:ffff:ffff:ffff:ffff]:5000", "", "", "2001:db8:1:2::/64", false},
		{"IPv6Other64", Config{}, "[2001:db8:1:3::1]:5000", "", "", "2001:db8:1:3::/64", false},
		{"IPv4Mapped", Config{}, "[::ffff:192.0.2.1]:5000", "", "", "192.0.2.1", false},
		{"UntrustedIgnoresHeaders", Config{}, "192.0.2.1:5000", "203.0.113.9", "203.0.113.8", "192.0.2.1", false},

		{"ProxyXFF", Config{TrustProxy: true}, "10.0.0.2:5000", "203.0.113.9", "", "203.0.113.9", true},
		{"ProxyXFFRightmost", Config{TrustProxy: true}, "10.0.0.2:5000", "198.51.100.1, 203.0.113.9", "", "203.0.113.9", true},
		{"ProxyXFFBeforeRealIP", Config{TrustProxy: true}, "10.0.0.2:5000", "203.0.113.9", "198.51.100.1", "203.0.113.9", true},
		{"ProxyRealIPAlone", Config{TrustProxy: true}, "10.0.0.2:5000", "", "203.0.113.9", "203.0.113.9", true},
		{"ProxyRealIPGarbage", Config{TrustProxy: true}, "10.0.0.2:5000", "", "not-an-ip", "10.0.0.2", true},
		{"ProxyXFFGarbage", Config{TrustProxy: true}, "10.0.0.2:5000", "203.0.113.9, 1.2.3.4.5", "", "10.0.0.2", true},
		{"ProxyXFFPort", Config{TrustProxy: true}, "10.0.0.2:5000", "203.0.113.9:80", "", "10.0.0.2", true},
		{"ProxyXFFZone", Config{TrustProxy: true}, "10.0.0.2:5000", "fe80::1%eth0", "", "10.0.0.2", true},
		{"ProxyXFFIPv6By64", Config{TrustProxy: true}, "10.0.0.2:5000", "2001:db8:9:9::42", "", "2001:db8:9:9::/64", true},
		{"ProxyXFFIPv4Mapped", Config{TrustProxy: true}, "10.0.0.2:5000", "::ffff:203.0.113.9", "", "203.0.113.9", true},

		{"ListedProxyChain", Config{TrustProxy: true, TrustedProxies: lb}, "10.0.0.2:5000", "198.51.100.1, 203.0.113.9, 10.1.1.1, fd00::7", "", "203.0.113.9", true},
		{"UnlistedPeer", Config{TrustProxy: true, TrustedProxies: lb}, "192.0.2.1:5000", "203.0.113.9", "", "192.0.2.1", false},
		{"ListedAllProxies", Config{TrustProxy: true, TrustedProxies: lb}, "10.0.0.2:5000", "10.9.9.9", "", "10.9.9.9", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if tt.real != "" {
				r.Header.Set("X-Real-IP", tt.real)
			}
			if got := clientIP(r, tt.cfg); got != tt.want {
				t.Errorf("got key %q, want %q", got, tt.want)
			}
			if _, got := clientAddr(r, tt.cfg); got != tt.wantViaPxy {
				t.Errorf("got through a trusted proxy %v, want %v", got, tt.wantViaPxy)
			}
		})
	}
}
