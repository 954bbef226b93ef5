package api_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/api"
	"parley/model"
)

// TestHashGate checks that password hashing is admitted a few at a time:
// a burst of logins beyond the slots gets 503 with Retry-After (never a
// 500), the rest log in, and other requests are answered meanwhile.
func TestHashGate(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *api.Config) {
		c.HashConcurrency = 1
		c.HashWait = time.Millisecond
	})
	alice := s.register(t, "alice")

	const burst = 24
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		busy     []*response
	)
	for range burst {
		wg.Go(func() {
			r := s.client(t).post("/api/v1/auth/login", map[string]string{"username": "alice", "password": "password alice"})
			mu.Lock()
			defer mu.Unlock()
			statuses[r.Status]++
			if r.Status == http.StatusServiceUnavailable {
				busy = append(busy, r)
			}
		})
	}
	// While the logins queue, the rest of the API answers.
	alice.get("/api/v1/me").want(http.StatusOK)
	wg.Wait()

	if statuses[http.StatusOK] == 0 || statuses[http.StatusServiceUnavailable] == 0 ||
		statuses[http.StatusOK]+statuses[http.StatusServiceUnavailable] != burst {
		t.Fatalf("got statuses %v for %d logins at once through one hashing slot, want only 200s and 503s, some of each", statuses, burst)
	}
	for _, r := range busy[:1] {
		r.wantError(http.StatusServiceUnavailable, model.EUnavailable, "")
		if got := r.Header.Get("Retry-After"); got != "1" {
			t.Errorf("got Retry-After %q on a 503, want 1", got)
		}
	}
}

// TestCredentialsNotCached checks that every response carrying a token or a
// ticket tells caches not to keep it.
func TestCredentialsNotCached(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := s.client(t)
	reg := c.post("/api/v1/auth/register", map[string]string{"username": "alice", "password": "password alice"}).want(http.StatusCreated)
	tokens := decodeJSON[tokensJSON](reg)
	login := c.post("/api/v1/auth/login", map[string]string{"username": "alice", "password": "password alice"}).want(http.StatusOK)
	refresh := c.post("/api/v1/auth/refresh", map[string]string{"refresh_token": tokens.RefreshToken}).want(http.StatusOK)
	ticket := c.as(tokens.AccessToken).post("/api/v1/ws/tickets", nil).want(http.StatusCreated)
	for name, r := range map[string]*response{"register": reg, "login": login, "refresh": refresh, "ticket": ticket} {
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: got Cache-Control %q, want no-store", name, got)
		}
	}
}

// TestAuthRateLimits_ClientKeying checks, through the whole server, that the
// per-IP limit counts an IPv6 client by its /64 and an IPv4-mapped address
// as its IPv4 address, behind a trusted proxy.
func TestAuthRateLimits_ClientKeying(t *testing.T) {
	t.Parallel()
	login := func(c *client, forwardedFor string) *response {
		return c.do(request{method: http.MethodPost, path: "/api/v1/auth/login",
			body:   map[string]string{"username": "nobody", "password": "wrong password"},
			header: map[string]string{"X-Forwarded-For": forwardedFor}})
	}
	s := newServer(t, func(cfg *api.Config) {
		cfg.Limits.AuthPerIP = api.Rate{N: 2, Per: time.Hour}
		cfg.Limits.AuthPerUsername = api.Rate{N: 1000, Per: time.Hour}
		cfg.TrustProxy = true
	})
	c := s.client(t)
	login(c, "2001:db8:1:2::1").want(http.StatusUnauthorized)
	login(c, "2001:db8:1:2:ffff::9").want(http.StatusUnauthorized) // same /64
	login(c, "2001:db8:1:2:abcd::1").wantError(http.StatusTooManyRequests, model.ERateLimited, "")
	login(c, "2001:db8:1:3::1").want(http.StatusUnauthorized) // the next /64 is someone else

	login(c, "192.0.2.7").want(http.StatusUnauthorized)
	login(c, "::ffff:192.0.2.7").want(http.StatusUnauthorized) // the same IPv4 client
	login(c, "192.0.2.7").wantError(http.StatusTooManyRequests, model.ERateLimited, "")
}

// TestRequestID_UntrustedPeer checks that behind a list of trusted proxies,
// a peer outside it (here the test client on loopback) gets a fresh request
// id rather than the one it sent.
func TestRequestID_UntrustedPeer(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(cfg *api.Config) {
		cfg.TrustProxy = true
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	r := s.client(t).do(request{method: http.MethodGet, path: "/healthz", header: map[string]string{"X-Request-Id": "chosen-by-client"}}).want(http.StatusOK)
	if got := r.Header.Get("X-Request-Id"); got == "chosen-by-client" || got == "" {
		t.Errorf("got X-Request-Id %q, want a fresh one", got)
	}
}

// TestConfusables checks that names which look like others are refused or
// mapped to the name they look like, that names and bodies cannot hold
// text-reordering controls, and that a body naming one field twice, in any
// case, is refused rather than read as one of them.
func TestConfusables(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice := s.register(t, "alice")
	alice.channel("general")
	c := s.client(t)
	register := func(t *testing.T, username, displayName string) *response {
		return c.in(t).do(request{method: http.MethodPost, path: "/api/v1/auth/register", invalid: true,
			body: map[string]string{"username": username, "password": "secret password", "display_name": displayName}})
	}

	for name, username := range map[string]string{
		"CyrillicA":     "\u0430lice", // а
		"ZeroWidth":     "ali\u200bce",
		"BidiOverride":  "ali\u202ece",
		"Ligature":      "\ufb01sh", // ﬁ
		"CombiningMark": "ali\u0301ce",
	} {
		t.Run("ErrUsername"+name, func(t *testing.T) {
			t.Parallel()
			register(t, username, "").wantError(http.StatusUnprocessableEntity, model.EInvalid, "username")
		})
	}
	t.Run("ErrUsernameFullwidthIsTheSameName", func(t *testing.T) {
		t.Parallel()
		register(t, "\uff41\uff4c\uff49\uff43\uff45", "").wantError(http.StatusConflict, model.EConflict, "") // ａｌｉｃｅ
	})
	t.Run("ErrDisplayNameBidi", func(t *testing.T) {
		t.Parallel()
		register(t, "mallory", "admin\u202e").wantError(http.StatusUnprocessableEntity, model.EInvalid, "display_name")
	})
	channel := func(t *testing.T, name string) *response {
		return alice.in(t).post("/api/v1/channels", map[string]string{"name": name})
	}
	t.Run("ErrChannelMixedScripts", func(t *testing.T) {
		t.Parallel()
		channel(t, "g\u0435neral").wantError(http.StatusUnprocessableEntity, model.EInvalid, "name") // Cyrillic е
	})
	t.Run("ErrChannelFullwidthIsTheSameName", func(t *testing.T) {
		t.Parallel()
		channel(t, "\uff47\uff45\uff4e\uff45\uff52\uff41\uff4c").wantError(http.StatusConflict, model.EConflict, "")
	})
	t.Run("OKChannelOneScript", func(t *testing.T) {
		t.Parallel()
		channel(t, "новости-2").want(http.StatusCreated)
		channel(t, "日本語チャンネル").want(http.StatusCreated)
	})
	conv := alice.channel("bodies")
	post := func(t *testing.T, body string) *response {
		return alice.in(t).do(request{method: http.MethodPost, path: fmt.Sprintf("/api/v1/conversations/%d/messages", conv), body: body, invalid: true})
	}
	t.Run("ErrBodyBidiOverride", func(t *testing.T) {
		t.Parallel()
		post(t, `{"body": "invoice_\u202efdp.exe"}`).wantError(http.StatusUnprocessableEntity, model.EInvalid, "body")
	})
	t.Run("OKBodyBidiIsolate", func(t *testing.T) {
		t.Parallel()
		post(t, `{"body": "he said \u2067שלום\u2069 today"}`).want(http.StatusCreated)
	})
	for name, body := range map[string]string{
		"Same":        `{"body": "a", "body": "b"}`,
		"CaseVariant": `{"body": "a", "BODY": "b"}`,
		"LongS":       `{"client_msg_id": "x", "client_m\u017fg_id": "y", "body": "a"}`, // ſ folds to s
	} {
		t.Run("ErrDuplicateKey"+name, func(t *testing.T) {
			t.Parallel()
			post(t, body).wantError(http.StatusBadRequest, model.EMalformed, "")
		})
	}
}

// TestMemberList_Paged checks that a channel's members come a page at a
// time, in username order, each exactly once, and that a bad cursor or
// limit is refused.
func TestMemberList_Paged(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	owner := s.register(t, "owner")
	conv := owner.channel("big")
	want := []string{"owner"}
	for _, name := range []string{"erin", "Bob", "alice", "dave", "carol"} {
		s.register(t, name).put(fmt.Sprintf("/api/v1/channels/%d/members/me", conv), nil).want(http.StatusOK)
		want = append(want, name)
	}
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })

	path := fmt.Sprintf("/api/v1/conversations/%d/members", conv)
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatalf("still paging after %d pages; got %v", pages, got)
		}
		q := path + "?limit=2"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		p := decodeJSON[pageJSON[memberJSON]](owner.get(q).want(http.StatusOK))
		if len(p.Items) > 2 {
			t.Fatalf("got %d members in a page of limit 2", len(p.Items))
		}
		for _, m := range p.Items {
			got = append(got, m.Username)
		}
		if !p.HasMore {
			break
		}
		cursor = p.NextCursor
	}
	if !slices.Equal(got, want) {
		t.Errorf("got members %v over the pages, want %v", got, want)
	}
	owner.get(path+"?cursor=not-a-cursor!").wantError(http.StatusUnprocessableEntity, model.EInvalid, "cursor")
	owner.do(request{method: http.MethodGet, path: path + "?limit=101", invalid: true}).wantError(http.StatusUnprocessableEntity, model.EInvalid, "limit")
}
