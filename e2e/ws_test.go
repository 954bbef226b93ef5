package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/notify/notifytest"
)

// event is a frame of the event channel, any type (asyncapi.yaml).
type event struct {
	Type           string `json:"type"`
	ConversationID int64  `json:"conversation_id"`
	MessageID      int64  `json:"message_id"`
	Seq            int64  `json:"seq"`
	UserID         int64  `json:"user_id"`
	Online         *bool  `json:"online"`
}

func (e event) String() string {
	b, _ := json.Marshal(e)
	return string(b)
}

// about reports whether e concerns conversation conv.
func (e event) about(conv int64) bool { return e.ConversationID == conv }

// wsURL turns an http:// base into the event channel's ws:// URL.
func wsURL(base string) string {
	return "ws" + strings.TrimPrefix(base, "http") + "/api/v1/ws"
}

// handshake is what a test needs of the WebSocket handshake's response.
type handshake struct {
	Status int         // 0 if no HTTP response came
	Header http.Header // nil if no HTTP response came
}

// dialWS opens the event channel at base with a Bearer token, with
// websocket.Dial as any client would.
func dialWS(ctx context.Context, base, token string, header http.Header) (*websocket.Conn, handshake, error) {
	return dialURL(ctx, wsURL(base), token, header)
}

// dialURL is dialWS for a full ws:// URL, such as one with a ?ticket=.
func dialURL(ctx context.Context, u, token string, header http.Header) (*websocket.Conn, handshake, error) {
	h := http.Header{}
	for k, v := range header {
		h[k] = v
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: h, HTTPClient: httpClient})
	var hs handshake
	if resp != nil {
		hs = handshake{Status: resp.StatusCode, Header: resp.Header}
		if resp.Body != nil {
			_ = resp.Body.Close()
		}
	}
	return c, hs, err
}

// wsConn is a test's event channel: a goroutine reads every frame into a
// queue the test takes them from, checking each against asyncapi.yaml.
type wsConn struct {
	tb       testing.TB
	name     string
	c        *websocket.Conn
	Upstream string // which instance nginx chose, if through nginx

	mu       sync.Mutex
	queue    []event // not yet taken
	all      []event // everything received, in order
	bad      []string
	closed   bool
	closeErr error         // why reading stopped
	closedAt time.Time     // when it did
	changed  chan struct{} // closed and replaced when queue or closed changes
	done     chan struct{} // closed when the reader returns
}

// connect opens the event channel at base as u, expects hello with u's id,
// and closes it when tb ends.
func connect(tb testing.TB, base string, u *user, name string) *wsConn {
	tb.Helper()
	return connectWith(tb, wsURL(base), u.Access, u.ID, name, nil)
}

// refusedStatus dials u expecting a refusal and returns the handshake's
// status, or 0 and the dial error if there was no HTTP response. A dial that
// succeeds is closed and reported as 101.
func refusedStatus(u, token string, header http.Header) (int, error) {
	c, hs, err := dialURL(context.Background(), u, token, header)
	if err == nil {
		_ = c.CloseNow()
		return http.StatusSwitchingProtocols, nil
	}
	return hs.Status, err
}

// connectWith is connect for a full ws:// URL, with any token (none for a
// ticket) and extra handshake headers.
func connectWith(tb testing.TB, u, token string, userID int64, name string, header http.Header) *wsConn {
	tb.Helper()
	c, hs, err := dialURL(context.Background(), u, token, header)
	if err != nil {
		tb.Fatalf("%s: dial %s: %v (status %d)", name, u, err, hs.Status)
	}
	w := startReader(tb, c, name)
	w.Upstream = servedBy(hs.Header.Get(upstreamHeader))
	hello := w.next(tb, 10*time.Second)
	if hello.Type != "hello" || hello.UserID != userID {
		tb.Fatalf("%s: first frame %v, want hello for user %d", name, hello, userID)
	}
	return w
}

// startReader starts reading c; the connection is closed when tb ends.
func startReader(tb testing.TB, c *websocket.Conn, name string) *wsConn {
	c.SetReadLimit(64 << 10)
	w := &wsConn{tb: tb, name: name, c: c, changed: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go w.read(ctx)
	tb.Cleanup(func() {
		if !w.isClosed() {
			// A normal close: the server must not count it as an error.
			_ = c.Close(websocket.StatusNormalClosure, "test over")
		}
		cancel()
		awaitDone(tb, w.done, stopTimeout, "WebSocket reader after cancel")
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, b := range w.bad {
			tb.Errorf("%s: %s", name, b)
		}
	})
	return w
}

func (w *wsConn) read(ctx context.Context) {
	defer close(w.done)
	for {
		typ, data, err := w.c.Read(ctx)
		w.mu.Lock()
		if err != nil {
			w.closed, w.closeErr, w.closedAt = true, err, time.Now()
			w.poke()
			w.mu.Unlock()
			return
		}
		var ev event
		switch {
		case typ != websocket.MessageText:
			w.bad = append(w.bad, fmt.Sprintf("got a %v frame, want text", typ))
		case json.Unmarshal(data, &ev) != nil:
			w.bad = append(w.bad, fmt.Sprintf("frame %q is not JSON", data))
		default:
			if err := checkFrame(data); err != nil {
				w.bad = append(w.bad, fmt.Sprintf("frame %s does not match asyncapi.yaml: %v", data, err))
			}
		}
		w.queue = append(w.queue, ev)
		w.all = append(w.all, ev)
		w.poke()
		w.mu.Unlock()
	}
}

// poke wakes waiters; the caller holds w.mu.
func (w *wsConn) poke() {
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *wsConn) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// next returns the next frame, failing tb if none comes within d or the
// connection closes.
func (w *wsConn) next(tb testing.TB, d time.Duration) event {
	tb.Helper()
	ev, err := w.nextErr(d)
	if err != nil {
		tb.Fatalf("%s: %v", w.name, err)
	}
	return ev
}

func (w *wsConn) nextErr(d time.Duration) (event, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			ev := w.queue[0]
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return ev, nil
		}
		if w.closed {
			err := w.closeErr
			w.mu.Unlock()
			return event{}, fmt.Errorf("connection closed: %w", err)
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-t.C:
			return event{}, fmt.Errorf("no frame within %s", d)
		}
	}
}

// waitFor takes frames until one matches, within d, and returns it. The
// frames before it are returned too.
func (w *wsConn) waitFor(tb testing.TB, d time.Duration, what string, match func(event) bool) (event, []event) {
	tb.Helper()
	deadline := time.Now().Add(d)
	var skipped []event
	for {
		left := time.Until(deadline)
		if left <= 0 {
			tb.Fatalf("%s: no %s within %s; got %v", w.name, what, d, skipped)
		}
		ev, err := w.nextErr(left)
		if err != nil {
			tb.Fatalf("%s: no %s: %v; got %v", w.name, what, err, skipped)
		}
		if match(ev) {
			return ev, skipped
		}
		skipped = append(skipped, ev)
	}
}

// waitCreated waits for message.created about m and checks its ids and seq.
func (w *wsConn) waitCreated(tb testing.TB, d time.Duration, m message) []event {
	tb.Helper()
	ev, skipped := w.waitFor(tb, d, fmt.Sprintf("message.created for message %d", m.ID), func(e event) bool {
		return e.Type == "message.created" && e.MessageID == m.ID
	})
	if ev.ConversationID != m.ConversationID || ev.Seq != m.Seq {
		tb.Errorf("%s: got %v, want conversation_id %d and seq %d", w.name, ev, m.ConversationID, m.Seq)
	}
	return skipped
}

// waitClosed waits up to d for the server to close the connection and
// returns the close status (-1 if it ended without a close frame).
func (w *wsConn) waitClosed(tb testing.TB, d time.Duration) (websocket.StatusCode, string) {
	tb.Helper()
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		w.mu.Lock()
		if w.closed {
			err := w.closeErr
			w.mu.Unlock()
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			return -1, err.Error()
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-t.C:
			tb.Fatalf("%s: still open %s later, want it closed", w.name, d)
		}
	}
}

// received returns every frame received so far.
func (w *wsConn) received() []event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]event(nil), w.all...)
}

// checkFrame reports whether data is a frame asyncapi.yaml says the server
// sends.
func checkFrame(data []byte) error { return notifytest.CheckFrame(data, true) }

// send writes a client frame (asyncapi.yaml's typingSent).
func (w *wsConn) send(tb testing.TB, v any) {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("marshal: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		tb.Fatalf("%s: write %s: %v", w.name, b, err)
	}
}
