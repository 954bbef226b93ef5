package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	_ "github.com/lib/pq" // to read what PostgreSQL holds

	"parley/client"
	"parley/model"
)

// httpClient is what every test uses for REST; its own timeout bounds a
// request to a server that hangs.
var httpClient = &http.Client{Timeout: 20 * time.Second}

// user is a registered account and its current login.
type user struct {
	ID       int64
	Name     string
	Password string
	Access   string
	Refresh  string
	client   *client.Client // the login's client, at the address it was made through
}

// tokens is the body of register, login and refresh.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	User         struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	} `json:"user"`
}

// conversation is the part of a Conversation the tests use.
type conversation struct {
	ID      int64  `json:"id"`
	Kind    string `json:"kind"`
	LastSeq int64  `json:"last_seq"`
}

// message is the part of a Message the tests use.
type message struct {
	ID             int64   `json:"id"`
	ConversationID int64   `json:"conversation_id"`
	Seq            int64   `json:"seq"`
	SenderID       int64   `json:"sender_id"`
	Body           string  `json:"body"`
	ClientMsgID    *string `json:"client_msg_id"`
}

type messagePage struct {
	Items   []message `json:"items"`
	HasMore bool      `json:"has_more"`
}

// statusError is a response with a status the caller did not want.
type statusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// call sends a JSON request to base+path with token (if any) and decodes a
// response whose status is one of want into out (if not nil). It does not
// touch a testing.TB, so goroutines may use it.
func call(ctx context.Context, base, token, method, path string, body, out any, want ...int) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	for _, w := range want {
		if resp.StatusCode == w {
			if out != nil && len(data) > 0 {
				if err := json.Unmarshal(data, out); err != nil {
					return resp.StatusCode, fmt.Errorf("%s %s: decode %q: %w", method, path, data, err)
				}
			}
			return resp.StatusCode, nil
		}
	}
	return resp.StatusCode, &statusError{Method: method, Path: path, Status: resp.StatusCode, Body: string(data)}
}

// must is call for the test goroutine: any failure is fatal.
func must(tb testing.TB, base, token, method, path string, body, out any, want ...int) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, err := call(ctx, base, token, method, path, body, out, want...)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return status
}

// register creates an account named name (made unique per test run) through
// base and returns it logged in.
func register(tb testing.TB, base, name string) *user {
	tb.Helper()
	u := &user{Name: name + "_" + randomHex(3), Password: "password-of-" + name}
	c := newAPIClient(tb, base)
	if _, err := c.Register(testCtx(tb), client.RegisterRequest{Username: u.Name, Password: u.Password}); err != nil {
		tb.Fatalf("register %s: %v", u.Name, err)
	}
	return fromSession(u, c)
}

// login starts a second login of u (another device) through base and
// returns it as its own user value.
func login(tb testing.TB, base string, u *user) *user {
	tb.Helper()
	c := newAPIClient(tb, base)
	if _, err := c.Login(testCtx(tb), u.Name, u.Password); err != nil {
		tb.Fatalf("login %s: %v", u.Name, err)
	}
	return fromSession(&user{Name: u.Name, Password: u.Password}, c)
}

func newAPIClient(tb testing.TB, base string) *client.Client {
	tb.Helper()
	c, err := client.New(base, client.Options{HTTPClient: httpClient})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// fromSession fills u with c's login. Tests use the tokens by themselves
// (to open sockets, to revoke logins) and within their 15 minutes, so the
// client's renewal never makes them stale.
func fromSession(u *user, c *client.Client) *user {
	s := c.Session()
	u.ID, u.Access, u.Refresh, u.client = int64(s.User.ID), s.AccessToken, s.RefreshToken, c
	return u
}

// testCtx bounds one request of a test.
func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// createChannel creates a channel as u and returns its id.
func createChannel(tb testing.TB, base string, u *user, name string) int64 {
	tb.Helper()
	c, err := u.on(tb, base).CreateChannel(testCtx(tb), client.ChannelRequest{Name: name + "-" + randomHex(3)})
	if err != nil {
		tb.Fatalf("create channel: %v", err)
	}
	return int64(c.ID)
}

// join makes u a member of channel conv.
func join(tb testing.TB, base string, u *user, conv int64) {
	tb.Helper()
	if _, err := u.on(tb, base).JoinChannel(testCtx(tb), model.ConversationID(conv)); err != nil {
		tb.Fatalf("join %d: %v", conv, err)
	}
}

// leave ends u's membership of channel conv.
func leave(tb testing.TB, base string, u *user, conv int64) {
	tb.Helper()
	if err := u.on(tb, base).LeaveChannel(testCtx(tb), model.ConversationID(conv)); err != nil {
		tb.Fatalf("leave %d: %v", conv, err)
	}
}

// post posts body to conv as u and returns the new message.
func post(tb testing.TB, base string, u *user, conv int64, body string) message {
	tb.Helper()
	m, err := u.on(tb, base).PostMessage(testCtx(tb), model.ConversationID(conv), client.MessageRequest{Body: body})
	if err != nil {
		tb.Fatalf("post to %d: %v", conv, err)
	}
	return toMessage(m)
}

// getMessages fetches messages by id (GET /messages?ids=) as u.
func getMessages(tb testing.TB, base string, u *user, ids ...int64) []message {
	tb.Helper()
	mids := make([]model.MessageID, len(ids))
	for i, id := range ids {
		mids[i] = model.MessageID(id)
	}
	ms, err := u.on(tb, base).Messages(testCtx(tb), mids)
	if err != nil {
		tb.Fatalf("get messages: %v", err)
	}
	out := make([]message, len(ms))
	for i, m := range ms {
		out[i] = toMessage(m)
	}
	return out
}

// on returns a client for u's login that talks to base: the instance, or
// the load balancer, the test addresses.
func (u *user) on(tb testing.TB, base string) *client.Client {
	tb.Helper()
	if u.client != nil && u.client.BaseURL() == base {
		return u.client
	}
	c, err := client.New(base, client.Options{HTTPClient: httpClient, Session: client.Session{
		AccessToken: u.Access, RefreshToken: u.Refresh, Expiry: time.Now().Add(model.AccessTokenTTL - time.Minute),
		User: client.User{ID: model.UserID(u.ID), Username: u.Name}}})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func toMessage(m client.Message) message {
	return message{ID: int64(m.ID), ConversationID: int64(m.ConversationID), Seq: m.Seq,
		SenderID: int64(m.SenderID), Body: m.Body, ClientMsgID: m.ClientMsgID}
}

// postRetry posts body to conv as u with the idempotency key clientID,
// as a careful client does: after a network error or a 502, 503 or 504 the
// post may or may not have been committed, so it is sent again with the
// same key until the server answers 201 (new) or 200 (a retry of one
// committed earlier).
func postRetry(ctx context.Context, base string, u *user, conv int64, body, clientID string) (message, int, error) {
	path := fmt.Sprintf("/api/v1/conversations/%d/messages", conv)
	for attempt := 1; ; attempt++ {
		var m message
		_, err := call(ctx, base, u.Access, http.MethodPost, path,
			map[string]string{"body": body, "client_msg_id": clientID}, &m, http.StatusCreated, http.StatusOK)
		if err == nil {
			return m, attempt, nil
		}
		var se *statusError
		if errors.As(err, &se) && se.Status != http.StatusBadGateway && se.Status != http.StatusServiceUnavailable &&
			se.Status != http.StatusGatewayTimeout {
			return m, attempt, err
		}
		if ctx.Err() != nil {
			return m, attempt, fmt.Errorf("post %s gave up after %d attempts: %w", clientID, attempt, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// msgRef is a message as the event protocol knows it: its place and id.
type msgRef struct {
	Seq int64
	ID  int64
}

// dbHistory reads conversation conv's messages from PostgreSQL, the source
// of truth, in seq order.
func dbHistory(tb testing.TB, dsn string, conv int64) []msgRef {
	tb.Helper()
	var out []msgRef
	queryDB(tb, dsn, "read messages", func(rows *sql.Rows) error {
		var r msgRef
		err := rows.Scan(&r.Seq, &r.ID)
		out = append(out, r)
		return err
	}, `SELECT seq, id FROM messages WHERE conversation_id = $1 ORDER BY seq`, conv)
	return out
}

// dbClientIDs returns, for each client_msg_id in conv, how many messages
// carry it.
func dbClientIDs(tb testing.TB, dsn string, conv int64) map[string]int {
	tb.Helper()
	out := map[string]int{}
	queryDB(tb, dsn, "read client_msg_ids", func(rows *sql.Rows) error {
		var id string
		var n int
		err := rows.Scan(&id, &n)
		out[id] = n
		return err
	}, `SELECT client_msg_id, count(*) FROM messages WHERE conversation_id = $1 AND client_msg_id IS NOT NULL GROUP BY 1`, conv)
	return out
}

// queryDB runs q on the database at dsn and calls scan for each row,
// failing tb, with what, if anything goes wrong.
func queryDB(tb testing.TB, dsn, what string, scan func(*sql.Rows) error, q string, args ...any) {
	tb.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		tb.Fatalf("open database: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			tb.Fatalf("%s: scan: %v", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}
