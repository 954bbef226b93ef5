package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"parley/api"
)

// Fuzz targets send untrusted input through the whole server. Whatever the
// input, the answer must be no 5xx (adapt would log a panic as one) and must
// match openapi.yaml.

// unlimited lifts every rate limit, so that fuzzing is never refused.
func unlimited(cfg *api.Config) {
	r := api.Rate{N: 1 << 30, Per: time.Second}
	cfg.Limits = api.Limits{AuthPerIP: r, AuthPerUsername: r, PostPerUser: r}
}

// fuzzBody sends body as JSON to method path and fails on a 5xx.
func fuzzBody(t *testing.T, c *client, method, path string, body []byte) {
	r := c.in(t).do(request{method: method, path: path, body: body, invalid: true})
	if r.Status >= 500 {
		t.Fatalf("%s %s %q: got %d %s", method, path, body, r.Status, r.Body)
	}
}

var bodySeeds = []string{
	``, `{}`, `[]`, `null`, `"x"`, `{`, `{"a":1}`, `{} {}`, "{\"body\":\"\xff\"}", `{"body":"\ud800"}`,
	`{"body":"\u0000"}`, `{"body":1}`, `{"body":null}`, `{"body":{"x":[1,2]}}`, `{"body":"1e999"}`,
}

func FuzzMessageCreate(f *testing.F) {
	s := newServer(f, unlimited)
	alice := s.register(f, "alice")
	path := fmt.Sprintf("/api/v1/conversations/%d/messages", alice.channel("general"))
	for _, seed := range append(bodySeeds, `{"body":"hi"}`, `{"body":"hi","client_msg_id":"k1"}`, `{"body":" \n"}`,
		`{"body":"x","client_msg_id":"a b"}`, `{"body":"x","client_msg_id":1}`) {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, alice.client, http.MethodPost, path, body)
	})
}

func FuzzMessageUpdate(f *testing.F) {
	s := newServer(f, unlimited)
	alice := s.register(f, "alice")
	msg := alice.send(alice.channel("general"), "first")
	path := fmt.Sprintf("/api/v1/messages/%d", msg.ID)
	for _, seed := range append(bodySeeds, `{"body":"edited"}`, `{"body":"\t"}`) {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, alice.client, http.MethodPatch, path, body)
	})
}

func FuzzRegister(f *testing.F) {
	s := newServer(f, unlimited)
	for _, seed := range append(bodySeeds, `{"username":"alice","password":"password1"}`,
		`{"username":"bob","password":"password1","display_name":" Bob "}`, `{"username":"a","password":""}`,
		`{"username":"ok_name","password":"12345678","display_name":"\u0007"}`, `{"username":5,"password":true}`) {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, s.client(t), http.MethodPost, "/api/v1/auth/register", body)
	})
}

func FuzzLogin(f *testing.F) {
	s := newServer(f, unlimited)
	s.register(f, "alice")
	for _, seed := range append(bodySeeds, `{"username":"alice","password":"password alice"}`,
		`{"username":"alice","password":"wrong"}`, `{"username":"nobody","password":"x"}`) {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, s.client(t), http.MethodPost, "/api/v1/auth/login", body)
	})
}

func FuzzRefresh(f *testing.F) {
	s := newServer(f, unlimited)
	alice := s.register(f, "alice")
	for _, seed := range append(bodySeeds, `{"refresh_token":"`+alice.Tokens.RefreshToken+`"}`, `{"refresh_token":""}`) {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, s.client(t), http.MethodPost, "/api/v1/auth/refresh", body)
	})
}

// FuzzQuery sends random query strings to the endpoints that parse them:
// limits, cursors, seqs, searches and id lists.
func FuzzQuery(f *testing.F) {
	s := newServer(f, unlimited)
	alice := s.register(f, "alice")
	conv := alice.channel("general")
	alice.send(conv, "hello")
	paths := []string{"/api/v1/users", "/api/v1/channels", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), "/api/v1/messages"}
	for _, seed := range []string{"", "limit=1", "limit=-1", "limit=1e3", "cursor=YWxpY2U", "cursor=%FF", "q=%00", "q=%25",
		"before=1", "after=0", "before=9223372036854775808", "ids=1,2", "ids=,", "ids=-1", "limit=1&limit=2"} {
		for i := range paths {
			f.Add(uint8(i), seed)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		path := paths[int(which)%len(paths)]
		if _, err := url.ParseQuery(query); err != nil || strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '#' }) {
			t.Skip() // not a query a client would send: net/http itself would reject the request line
		}
		r := alice.client.in(t).do(request{method: http.MethodGet, path: path + "?" + query, invalid: true})
		if r.Status >= 500 {
			t.Fatalf("GET %s?%s: got %d %s", path, query, r.Status, r.Body)
		}
	})
}
