package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"parley"
	"parley/api"
	"parley/auth"
	"parley/db"
	"parley/internal/dbtest"
	"parley/model"
	"parley/notify"
	"parley/ratelimit"
	"parley/static"
)

// secret signs the test servers' access tokens.
var secret = []byte("a test secret of at least 32 bytes")

// generous keeps the tests that are not about rate limits clear of them.
var generous = api.Limits{
	AuthPerIP:       api.Rate{N: 10000, Per: time.Minute},
	AuthPerUsername: api.Rate{N: 10000, Per: time.Minute},
	PostPerUser:     api.Rate{N: 10000, Per: time.Second},
	DevicePerUser:   api.Rate{N: 10000, Per: time.Second},
}

// spec is openapi.yaml, loaded and validated once, with a router that finds
// each request's operation in it.
var spec = sync.OnceValues(func() (routers.Router, error) {
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder) // the /docs page
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(parley.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not valid: %w", err)
	}
	return gorillamux.NewRouter(doc)
})

// server is a test server on its own fresh database, with a real notify
// Hub on an in-memory broker for its event channel.
type server struct {
	url   string
	store api.Store
	db    *db.Store
	logs  *logBuffer
	hub   *notify.Hub
}

// options are what a test may change about its server.
type options struct {
	cfg       api.Config
	ticketTTL time.Duration // 0: notify's default
}

// newServer starts api.NewServer on a fresh database, with generous rate
// limits unless an option changes them.
func newServer(tb testing.TB, opts ...func(*api.Config)) *server {
	tb.Helper()
	store := dbtest.New(tb)
	return newServerWith(tb, store, store, opts...)
}

// newServerWith starts api.NewServer on store, which wraps database.
func newServerWith(tb testing.TB, database *db.Store, store api.Store, opts ...func(*api.Config)) *server {
	tb.Helper()
	o := options{cfg: api.Config{JWTSecret: secret, Limits: generous}}
	for _, opt := range opts {
		opt(&o.cfg)
	}
	return startServer(tb, database, store, o)
}

// startServer starts api.NewServer with o on store, which wraps database.
func startServer(tb testing.TB, database *db.Store, store api.Store, o options) *server {
	tb.Helper()
	logs := &logBuffer{tb: tb}
	if _, fuzzing := tb.(*testing.F); fuzzing {
		logs.tb = nil // a fuzz target may not log through F
	}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	presence := notify.NewMemoryPresence()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hubCfg := notify.Config{Presence: presence, PresenceRate: 10 * time.Millisecond, ShutdownPause: time.Millisecond}
	hub, err := notify.NewHub(ctx, hubCfg, logger, notify.NewMemoryBroker(), database)
	if err != nil {
		tb.Fatalf("new hub: %v", err)
	}
	tickets := auth.NewMemoryTickets(o.ticketTTL)
	srv := httptest.NewServer(api.NewServer(o.cfg, logger, store, ratelimit.NewMemory(), hub, tickets, presence, static.FS))
	// Cleanups run last first: the Hub closes the event channels, so that
	// the server has no request left to wait for.
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Close(ctx); err != nil {
			tb.Errorf("close hub: %v", err)
		}
	})
	return &server{url: srv.URL, store: store, db: database, logs: logs, hub: hub}
}

// logBuffer keeps what the server logs, and shows it in the test's log.
type logBuffer struct {
	tb  testing.TB
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tb != nil {
		l.tb.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// client calls a test server, validating every request and response against
// openapi.yaml.
type client struct {
	t     testing.TB
	s     *server
	token string // access token sent as Bearer; none when empty
}

func (s *server) client(t testing.TB) *client { return &client{t: t, s: s} }

// as returns a client that sends token.
func (c *client) as(token string) *client { return &client{t: c.t, s: c.s, token: token} }

// in returns a client that reports failures to t, such as a subtest.
func (c *client) in(t testing.TB) *client { return &client{t: t, s: c.s, token: c.token} }

// request is one request to send.
type request struct {
	method, path string
	body         any               // nil for none; string or []byte as is; anything else as JSON
	header       map[string]string // set after the defaults (Content-Type, Authorization)
	invalid      bool              // breaks openapi.yaml on purpose: only the response is validated
	unspecified  bool              // not in openapi.yaml at all: nothing is validated
}

// response is what the server answered.
type response struct {
	t      testing.TB
	req    request
	Status int
	Header http.Header
	Body   []byte
}

func (c *client) get(path string) *response { return c.do(request{method: http.MethodGet, path: path}) }

func (c *client) post(path string, body any) *response {
	return c.do(request{method: http.MethodPost, path: path, body: body})
}

func (c *client) put(path string, body any) *response {
	return c.do(request{method: http.MethodPut, path: path, body: body})
}

func (c *client) patch(path string, body any) *response {
	return c.do(request{method: http.MethodPatch, path: path, body: body})
}

func (c *client) delete(path string) *response {
	return c.do(request{method: http.MethodDelete, path: path})
}

// do sends r and returns the response, failing the test if the request (unless
// r.invalid or r.unspecified) or the response (unless r.unspecified) does not
// match openapi.yaml.
func (c *client) do(r request) *response {
	c.t.Helper()
	var body []byte
	switch b := r.body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			c.t.Fatalf("marshal request: %v", err)
		}
	}
	newRequest := func() *http.Request {
		req, err := http.NewRequest(r.method, c.s.url+r.path, bytes.NewReader(body))
		if err != nil {
			c.t.Fatalf("new request: %v", err)
		}
		if r.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		return req
	}

	ctx := context.Background()
	var input *openapi3filter.RequestValidationInput
	if !r.unspecified {
		router, err := spec()
		if err != nil {
			c.t.Fatal(err)
		}
		req := newRequest()
		route, params, err := router.FindRoute(req)
		if err != nil {
			c.t.Fatalf("%s %s: not in openapi.yaml: %v", r.method, r.path, err)
		}
		input = &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
		}
		if !r.invalid {
			if err := openapi3filter.ValidateRequest(ctx, input); err != nil {
				c.t.Errorf("%s %s: request does not match openapi.yaml: %v", r.method, r.path, err)
			}
		}
	}

	resp, err := http.DefaultClient.Do(newRequest())
	if err != nil {
		c.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read response: %v", r.method, r.path, err)
	}
	if input != nil {
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: input, Status: resp.StatusCode, Header: resp.Header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		out.SetBodyBytes(respBody)
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			c.t.Errorf("%s %s: response %d %s does not match openapi.yaml: %v", r.method, r.path, resp.StatusCode, respBody, err)
		}
	}
	return &response{t: c.t, req: r, Status: resp.StatusCode, Header: resp.Header, Body: respBody}
}

// want fails the test unless the response has status.
func (r *response) want(status int) *response {
	r.t.Helper()
	if r.Status != status {
		r.t.Fatalf("%s %s: got status %d (%s), want %d", r.req.method, r.req.path, r.Status, bytes.TrimSpace(r.Body), status)
	}
	return r
}

// wantError fails the test unless the response is an error with status and
// code, naming field in fields when field is not empty.
func (r *response) wantError(status int, code model.Code, field string) {
	r.t.Helper()
	r.want(status)
	var e struct {
		Error struct {
			Code    model.Code        `json:"code"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil {
		r.t.Fatalf("decode error response %s: %v", r.Body, err)
	}
	if e.Error.Code != code {
		r.t.Errorf("got code %q, want %q", e.Error.Code, code)
	}
	if e.Error.Message == "" {
		r.t.Error("got an empty message")
	}
	if field != "" && e.Error.Fields[field] == "" {
		r.t.Errorf("got fields %v, want one naming %q", e.Error.Fields, field)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), `Bearer realm="parley"`) {
		r.t.Errorf("got WWW-Authenticate %q, want a Bearer challenge", r.Header.Get("WWW-Authenticate"))
	}
}

// wantRetryAfter fails the test unless Retry-After says to wait a little less
// than secs, which is how long a request waits when made as the bucket empties.
func wantRetryAfter(t testing.TB, r *response, secs int) {
	t.Helper()
	got, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || got > secs || got < secs-60 {
		t.Errorf("got Retry-After %q, want about %d", r.Header.Get("Retry-After"), secs)
	}
}

// decodeJSON decodes the response body into a T.
func decodeJSON[T any](r *response) T {
	r.t.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		r.t.Fatalf("decode %s: %v", r.Body, err)
	}
	return v
}

// The wire types, as a client sees them.
type (
	userJSON struct {
		ID          int64     `json:"id"`
		Username    string    `json:"username"`
		DisplayName string    `json:"display_name"`
		CreatedAt   time.Time `json:"created_at"`
	}
	tokensJSON struct {
		AccessToken  string   `json:"access_token"`
		RefreshToken string   `json:"refresh_token"`
		TokenType    string   `json:"token_type"`
		ExpiresIn    int      `json:"expires_in"`
		User         userJSON `json:"user"`
	}
	conversationJSON struct {
		ID            int64      `json:"id"`
		Kind          string     `json:"kind"`
		Name          *string    `json:"name"`
		Topic         *string    `json:"topic"`
		CreatedAt     time.Time  `json:"created_at"`
		LastSeq       int64      `json:"last_seq"`
		LastEventSeq  int64      `json:"last_event_seq"`
		LastMessageAt *time.Time `json:"last_message_at"`
		ReadSeq       int64      `json:"read_seq"`
		UnreadCount   int64      `json:"unread_count"`
	}
	changeJSON struct {
		EventSeq  int64  `json:"event_seq"`
		Type      string `json:"type"`
		MessageID int64  `json:"message_id"`
		Seq       int64  `json:"seq"`
	}
	channelJSON struct {
		ID          int64     `json:"id"`
		Kind        string    `json:"kind"`
		Name        string    `json:"name"`
		Topic       string    `json:"topic"`
		CreatedAt   time.Time `json:"created_at"`
		MemberCount int64     `json:"member_count"`
		IsMember    bool      `json:"is_member"`
	}
	memberJSON struct {
		userJSON
		JoinedAt time.Time `json:"joined_at"`
		Online   bool      `json:"online"`
	}
	userProfileJSON struct {
		userJSON
		Online bool `json:"online"`
	}
	messageJSON struct {
		ID             int64      `json:"id"`
		ConversationID int64      `json:"conversation_id"`
		Seq            int64      `json:"seq"`
		SenderID       int64      `json:"sender_id"`
		Body           string     `json:"body"`
		ClientMsgID    *string    `json:"client_msg_id"`
		CreatedAt      time.Time  `json:"created_at"`
		EditedAt       *time.Time `json:"edited_at"`
		DeletedAt      *time.Time `json:"deleted_at"`
	}
	pageJSON[T any] struct {
		Items      []T    `json:"items"`
		HasMore    bool   `json:"has_more"`
		NextCursor string `json:"next_cursor"`
	}
)

// user is a registered account and a client logged in as it.
type user struct {
	*client
	ID     int64
	Name   string
	Tokens tokensJSON
}

// in returns u acting in t, such as a subtest.
func (u *user) in(t testing.TB) *user {
	v := *u
	v.client = u.client.in(t)
	return &v
}

// register creates an account through the API and returns it logged in.
func (s *server) register(t testing.TB, username string) *user {
	t.Helper()
	r := s.client(t).post("/api/v1/auth/register", map[string]string{"username": username, "password": "password " + username}).
		want(http.StatusCreated)
	tokens := decodeJSON[tokensJSON](r)
	return &user{client: s.client(t).as(tokens.AccessToken), ID: tokens.User.ID, Name: username, Tokens: tokens}
}

// admin creates an administrator through the store, which is the only way,
// and logs it in through the API.
func (s *server) admin(t testing.TB, username string) *user {
	t.Helper()
	hash, err := auth.HashPassword("password " + username)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.CreateUser(context.Background(), model.NewUser{Username: username, DisplayName: username, PasswordHash: hash, IsAdmin: true}); err != nil {
		t.Fatal(err)
	}
	r := s.client(t).post("/api/v1/auth/login", map[string]string{"username": username, "password": "password " + username}).
		want(http.StatusOK)
	tokens := decodeJSON[tokensJSON](r)
	return &user{client: s.client(t).as(tokens.AccessToken), ID: tokens.User.ID, Name: username, Tokens: tokens}
}

// channel creates a channel owned by u and returns its id.
func (u *user) channel(name string) int64 {
	u.t.Helper()
	return decodeJSON[conversationJSON](u.post("/api/v1/channels", map[string]string{"name": name}).want(http.StatusCreated)).ID
}

// direct opens u's direct conversation with other and returns its id.
func (u *user) direct(other *user) int64 {
	u.t.Helper()
	r := u.post("/api/v1/conversations/direct", map[string]int64{"user_id": other.ID})
	if r.Status != http.StatusCreated {
		r.want(http.StatusOK)
	}
	return decodeJSON[conversationJSON](r).ID
}

// send posts body to conversation conv and returns the message.
func (u *user) send(conv int64, body string) messageJSON {
	u.t.Helper()
	return decodeJSON[messageJSON](u.post(fmt.Sprintf("/api/v1/conversations/%d/messages", conv), map[string]string{"body": body}).
		want(http.StatusCreated))
}
