package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
)

// eventWait bounds how long a test waits for a frame it expects. Frames
// arrive within milliseconds; this only keeps a broken test from hanging.
const eventWait = 10 * time.Second

// eventFrame is a frame of the event channel, as a client decodes it.
type eventFrame struct {
	Type           string `json:"type"`
	ConversationID int64  `json:"conversation_id,omitempty"`
	MessageID      int64  `json:"message_id,omitempty"`
	Seq            int64  `json:"seq,omitempty"`
	EventSeq       int64  `json:"event_seq,omitempty"`
	UserID         int64  `json:"user_id,omitempty"`
	Online         *bool  `json:"online,omitempty"`
}

func (f eventFrame) String() string {
	b, _ := json.Marshal(f)
	return string(b)
}

// Frames the tests expect.
func hello(user int64) eventFrame { return eventFrame{Type: "hello", UserID: user} }
func created(m messageJSON) eventFrame {
	return eventFrame{Type: "message.created", ConversationID: m.ConversationID, MessageID: m.ID, Seq: m.Seq}
}
func updated(m messageJSON) eventFrame {
	return eventFrame{Type: "message.updated", ConversationID: m.ConversationID, MessageID: m.ID, Seq: m.Seq}
}
func deleted(m messageJSON) eventFrame {
	return eventFrame{Type: "message.deleted", ConversationID: m.ConversationID, MessageID: m.ID, Seq: m.Seq}
}
func joined(conv int64) eventFrame {
	return eventFrame{Type: "conversation.joined", ConversationID: conv}
}
func left(conv int64) eventFrame { return eventFrame{Type: "conversation.left", ConversationID: conv} }
func memberJoined(conv, user int64) eventFrame {
	return eventFrame{Type: "member.joined", ConversationID: conv, UserID: user}
}
func memberLeft(conv, user int64) eventFrame {
	return eventFrame{Type: "member.left", ConversationID: conv, UserID: user}
}
func readUpdated(conv, seq int64) eventFrame {
	return eventFrame{Type: "read.updated", ConversationID: conv, Seq: seq}
}
func presence(user int64, online bool) eventFrame {
	return eventFrame{Type: "presence", UserID: user, Online: &online}
}
func resync() eventFrame { return eventFrame{Type: "resync"} }

// frames is what a client has received, in order, read in the background.
type frames struct {
	t    testing.TB
	ch   chan eventFrame
	done chan struct{} // closed when the connection has ended
	err  error         // why it ended; read it after done
}

func newFrames(t testing.TB) *frames {
	return &frames{t: t, ch: make(chan eventFrame, 4096), done: make(chan struct{})}
}

// receive decodes a frame the server sent, after checking it against
// asyncapi.yaml, and queues it.
func (f *frames) receive(data []byte) {
	checkFrame(f.t, data)
	var fr eventFrame
	if err := json.Unmarshal(data, &fr); err != nil {
		f.t.Errorf("decode frame %s: %v", data, err)
		return
	}
	select {
	case f.ch <- fr:
	default:
		f.t.Errorf("test client: too many frames unread; dropped %s", data)
	}
}

// next returns the next frame other than presence, which comes whenever a
// user who shares a conversation connects or leaves; waitFor finds those.
func (f *frames) next() eventFrame {
	f.t.Helper()
	for {
		fr := f.nextAny()
		if fr.Type != "presence" {
			return fr
		}
	}
}

func (f *frames) nextAny() eventFrame {
	f.t.Helper()
	timer := time.NewTimer(eventWait)
	defer timer.Stop()
	select {
	case fr := <-f.ch:
		return fr
	case <-f.done:
		select {
		case fr := <-f.ch:
			return fr
		default:
		}
		f.t.Fatalf("connection ended waiting for a frame: %v", f.err)
	case <-timer.C:
		f.t.Fatalf("no frame within %v", eventWait)
	}
	panic("unreachable")
}

// at returns f with event_seq n: frames the tests expect without one match
// whatever event_seq they carry.
func (f eventFrame) at(n int64) eventFrame {
	f.EventSeq = n
	return f
}

// matches reports whether got is want, whose zero EventSeq matches any.
func matches(want, got eventFrame) bool {
	if want.EventSeq == 0 {
		got.EventSeq = 0
	}
	return cmp.Equal(want, got)
}

// want fails the test unless the next frames (presence aside) are want.
func (f *frames) want(want ...eventFrame) {
	f.t.Helper()
	for _, w := range want {
		got := f.next()
		if w.EventSeq == 0 {
			got.EventSeq = 0
		}
		if diff := cmp.Diff(w, got); diff != "" {
			f.t.Fatalf("frame (-want +got):\n%s", diff)
		}
	}
}

// waitFor skips frames until one equals want.
func (f *frames) waitFor(want eventFrame) {
	f.t.Helper()
	for {
		if matches(want, f.nextAny()) {
			return
		}
	}
}

// ended waits for the connection to end and returns why.
func (f *frames) ended() error {
	f.t.Helper()
	select {
	case <-f.done:
		return f.err
	case <-time.After(eventWait):
		f.t.Fatalf("connection still open after %v", eventWait)
		return nil
	}
}

// wsClient is one WebSocket on the event channel.
type wsClient struct {
	*frames
	ws *websocket.Conn
}

func (s *server) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(s.url, "http") + "/api/v1/ws" + query
}

// dialWS opens the event channel with header and query, which hold the
// credentials, failing the test unless it opens with hello for user.
func (s *server) dialWS(t testing.TB, user int64, header http.Header, query string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, s.wsURL(query), &websocket.DialOptions{HTTPHeader: header}) //nolint:bodyclose // on success the body is the connection, closed with it
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = fmt.Sprintf(" (%d %s)", resp.StatusCode, b)
		}
		t.Fatalf("dial: %v%s", err, body)
	}
	c := &wsClient{frames: newFrames(t), ws: ws}
	go func() {
		defer close(c.done)
		for {
			typ, data, err := ws.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			if typ != websocket.MessageText {
				t.Errorf("got a %v frame, want text", typ)
			}
			c.receive(data)
		}
	}()
	t.Cleanup(func() {
		_ = ws.CloseNow()
		awaitClosed(t, c.done, "WebSocket reader after close")
	})
	c.want(hello(user))
	return c
}

// dial opens the event channel as u, with u's access token.
func (u *user) dial(t testing.TB) *wsClient {
	t.Helper()
	return u.s.dialWS(t, u.ID, http.Header{"Authorization": {"Bearer " + u.token}}, "")
}

// refusedWS tries to open the event channel and returns the refusal,
// failing the test if it opens.
func (s *server) refusedWS(t testing.TB, header http.Header, query string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, s.wsURL(query), &websocket.DialOptions{HTTPHeader: header}) //nolint:bodyclose // on failure Dial has read and closed the body
	if err == nil {
		_ = ws.CloseNow()
		t.Fatal("dial: the WebSocket opened, want it refused")
	}
	if resp == nil {
		t.Fatalf("dial: %v, want an HTTP refusal", err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// wantClosed fails the test unless the connection was closed by the server
// with code and reason.
func (c *wsClient) wantClosed(code websocket.StatusCode, reason string) {
	c.t.Helper()
	err := c.ended()
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != code || ce.Reason != reason {
		c.t.Fatalf("connection ended with %v, want close %d %q", err, code, reason)
	}
}

// sseClient is one Server-Sent Events stream of the event channel.
type sseClient struct {
	*frames
	header   http.Header
	retry    string      // the retry field, before hello
	ids      chan string // the id of each message.created, in order
	comments chan string
	cancel   context.CancelFunc
}

// stream opens the event channel as Server-Sent Events as u, resuming from
// lastEventID unless it is empty, and fails the test unless it opens with
// hello.
func (u *user) stream(t testing.TB, lastEventID string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.s.url+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req) //nolint:bodyclose // the reading goroutine closes it
	if err != nil {
		cancel()
		t.Fatalf("GET /api/v1/events: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET /api/v1/events: got %d %s, want 200", resp.StatusCode, b)
	}
	c := &sseClient{frames: newFrames(t), header: resp.Header, ids: make(chan string, 4096),
		comments: make(chan string, 16), cancel: cancel}
	go func() {
		defer close(c.done)
		defer resp.Body.Close()
		c.err = c.read(resp.Body)
	}()
	t.Cleanup(func() {
		cancel()
		awaitClosed(t, c.done, "event stream reader after cancel")
	})
	c.want(hello(u.ID))
	return c
}

// read parses the stream as the EventSource specification says, checking
// that each event is named after its frame's type and that message.created
// events, and only they, carry an id.
func (c *sseClient) read(body io.Reader) error {
	r := bufio.NewReader(body)
	var name, id string
	var data []byte
	hasID := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimSuffix(line, "\n")
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "": // dispatch
			if data != nil {
				var head eventFrame
				_ = json.Unmarshal(data, &head)
				if name != head.Type {
					c.t.Errorf("event %q carries a %q frame", name, head.Type)
				}
				if hasID != (head.Type == "message.created") {
					c.t.Errorf("event %s: id %q, want one on message.created only", data, id)
				}
				if hasID {
					c.ids <- id
				}
				c.receive(data)
			}
			name, data, hasID = "", nil, false
		case field == "":
			select {
			case c.comments <- value:
			default:
			}
		case field == "event":
			name = value
		case field == "data":
			if data != nil {
				data = append(data, '\n')
			}
			data = append(bytes.Clone(data), value...)
		case field == "id":
			id, hasID = value, true
		case field == "retry":
			c.retry = value
		default:
			c.t.Errorf("unknown field in line %q", line)
		}
	}
}

// lastID returns the id of the next message.created event received.
func (c *sseClient) nextID() string {
	c.t.Helper()
	select {
	case id := <-c.ids:
		return id
	case <-time.After(eventWait):
		c.t.Fatalf("no event id within %v", eventWait)
		return ""
	}
}

// close drops the stream as a client that lost its connection does.
func (c *sseClient) close() {
	c.cancel()
	awaitClosed(c.t, c.done, "event stream reader after cancel")
}

// awaitClosed waits up to eventWait for done to be closed, and fails t
// naming what otherwise, so that a stream that never ends fails the test
// with a message rather than hanging until go test's timeout.
func awaitClosed(t testing.TB, done <-chan struct{}, what string) {
	t.Helper()
	timer := time.NewTimer(eventWait)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Errorf("%s: still running after %v", what, eventWait)
	}
}

// login logs u in again: another login session of the same user.
func (s *server) login(t testing.TB, u *user) *user {
	t.Helper()
	r := s.client(t).post("/api/v1/auth/login", map[string]string{"username": u.Name, "password": "password " + u.Name}).
		want(http.StatusOK)
	tokens := decodeJSON[tokensJSON](r)
	return &user{client: s.client(t).as(tokens.AccessToken), ID: tokens.User.ID, Name: u.Name, Tokens: tokens}
}
