package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"parley/model"
)

// members is a test's Membership: what the database would answer.
type members struct {
	mu    sync.Mutex
	convs map[model.UserID]map[model.ConversationID]bool
	err   error
	// When set, a lookup takes its answer, reports on called and waits
	// for release.
	called  chan model.UserID
	release chan struct{}
}

var _ Membership = (*members)(nil)

// memberships lists each user's conversations.
type memberships map[model.UserID][]model.ConversationID

// newMembers returns a Membership that starts with initial.
func newMembers(initial memberships) *members {
	m := &members{convs: make(map[model.UserID]map[model.ConversationID]bool)}
	for user, convs := range initial {
		m.set(user, convs...)
	}
	return m
}

// set adds user to convs.
func (m *members) set(user model.UserID, convs ...model.ConversationID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.convs[user] == nil {
		m.convs[user] = make(map[model.ConversationID]bool)
	}
	for _, c := range convs {
		m.convs[user][c] = true
	}
}

func (m *members) remove(user model.UserID, conv model.ConversationID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.convs[user], conv)
}

func (m *members) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

func (m *members) ConversationIDs(ctx context.Context, user model.UserID) ([]model.ConversationID, error) {
	m.mu.Lock()
	var ids []model.ConversationID
	for c := range m.convs[user] {
		ids = append(ids, c)
	}
	err, called, release := m.err, m.called, m.release
	m.mu.Unlock()
	if called != nil {
		called <- user
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return ids, err
}

func (m *members) MemberCounts(_ context.Context, convs []model.ConversationID) (map[model.ConversationID]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	counts := make(map[model.ConversationID]int)
	for _, mine := range m.convs {
		for _, c := range convs {
			if mine[c] {
				counts[c]++
			}
		}
	}
	return counts, m.err
}

// testHub is a Hub behind an httptest server whose handler plays the api
// package's part: it accepts the WebSocket (users and sessions come from
// the query string here, not from a token) and calls Serve on a goroutine
// of its own, which only the Hub ends, as api/ws.go does.
type testHub struct {
	*Hub
	url         string
	serveErrs   atomic.Int64
	closeFailed bool // the test made Close fail on purpose
}

type hubOption func(*httptest.Server)

// withSmallSendBuffers makes the kernel hold little for each connection,
// so a client that stops reading blocks the server's writes quickly.
func withSmallSendBuffers(srv *httptest.Server) {
	srv.Listener = smallBufferListener{srv.Listener}
}

type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func newTestHub(t *testing.T, cfg Config, broker Broker, m Membership, opts ...hubOption) *testHub {
	t.Helper()
	if cfg.ShutdownPause == 0 {
		cfg.ShutdownPause = time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hub, err := NewHub(ctx, cfg, testLogger(t), broker, m)
	if err != nil {
		t.Fatalf("new hub: %v", err)
	}
	th := &testHub{Hub: hub}
	srv := httptest.NewUnstartedServer(th)
	for _, o := range opts {
		o(srv)
	}
	srv.Start()
	th.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Close(ctx); err != nil && !th.closeFailed {
			t.Errorf("close hub: %v", err)
		}
		srv.Close()
	})
	return th
}

func (th *testHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, _ := strconv.ParseInt(r.URL.Query().Get("user"), 10, 64)
	session, _ := strconv.ParseInt(r.URL.Query().Get("session"), 10, 64)
	if err := th.ServeWebSocket(w, r, model.UserID(user), model.SessionID(session)); err != nil {
		th.serveErrs.Add(1)
	}
}

// client is a test's WebSocket client.
type client struct {
	ws   *websocket.Conn
	user model.UserID
}

// dial connects as user and expects hello.
func (th *testHub) dial(t *testing.T, user model.UserID, session model.SessionID) *client {
	t.Helper()
	c := th.dialRaw(t, user, session, nil)
	c.expect(t, model.Hello(user))
	return c
}

// dialRaw connects as user without reading anything.
func (th *testHub) dialRaw(t *testing.T, user model.UserID, session model.SessionID, opts *websocket.DialOptions) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, fmt.Sprintf("%s?user=%d&session=%d", th.url, user, session), opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &client{ws: ws, user: user}
}

// read returns the next frame, checked against asyncapi.yaml.
func (c *client) read(tb testing.TB) (model.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, data, err := c.ws.Read(ctx)
	if err != nil {
		return model.Event{}, err
	}
	if typ != websocket.MessageText {
		return model.Event{}, fmt.Errorf("got a %v frame, want text", typ)
	}
	checkFrame(tb, data, true)
	var ev model.Event
	err = json.Unmarshal(data, &ev)
	return ev, err
}

func (c *client) next(t *testing.T) model.Event {
	t.Helper()
	ev, err := c.read(t)
	if err != nil {
		t.Fatalf("user %d: read: %v", c.user, err)
	}
	return ev
}

// expect fails t unless the next frame is want's.
func (c *client) expect(t *testing.T, want model.Event) {
	t.Helper()
	want.To = model.Audience{}
	if diff := cmp.Diff(want, c.next(t)); diff != "" {
		t.Fatalf("user %d: frame (-want +got):\n%s", c.user, diff)
	}
}

// expectClose reads until the connection closes, failing t unless it
// closes with code. It returns how many frames came before.
func (c *client) expectClose(tb testing.TB, code websocket.StatusCode) int {
	tb.Helper()
	for n := 0; ; n++ {
		_, err := c.read(tb)
		if err == nil {
			continue
		}
		if got := websocket.CloseStatus(err); got != code {
			tb.Errorf("user %d: closed with %v (%v), want %v", c.user, got, err, code)
		}
		return n
	}
}

// send writes a client frame.
func (c *client) send(t *testing.T, typ websocket.MessageType, frame string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, typ, []byte(frame)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// waitFor polls cond until it holds; for states no event announces.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var ctxb = context.Background()

func TestHub_MemberReceivesNonMemberDoesNot(t *testing.T) {
	t.Parallel()
	m := newMembers(memberships{1: {7}, 2: {8}})
	hub := newTestHub(t, Config{}, NewMemoryBroker(), m)
	member, other := hub.dial(t, 1, 1), hub.dial(t, 2, 2)

	hub.Publish(ctxb, model.MessageCreated(7, 100, 1, 1))
	hub.Publish(ctxb, model.MessageUpdated(7, 100, 1, 1))
	hub.Publish(ctxb, model.MessageDeleted(7, 100, 1, 1))
	hub.Publish(ctxb, model.ReadUpdated(1, 7, 1)) // to user 1 only
	hub.Publish(ctxb, model.ReadUpdated(2, 8, 1)) // the fence: whatever user 2 got before it, it got wrongly

	member.expect(t, model.MessageCreated(7, 100, 1, 1))
	member.expect(t, model.MessageUpdated(7, 100, 1, 1))
	member.expect(t, model.MessageDeleted(7, 100, 1, 1))
	member.expect(t, model.ReadUpdated(1, 7, 1))
	other.expect(t, model.ReadUpdated(2, 8, 1))
}

func TestHub_MembershipEventsApplyAtOnce(t *testing.T) {
	t.Parallel()
	m := newMembers(memberships{1: {7}, 2: {7}})
	hub := newTestHub(t, Config{}, NewMemoryBroker(), m)
	c1, c2 := hub.dial(t, 1, 1), hub.dial(t, 2, 2)

	// User 1 leaves 7: the api commits, then publishes.
	m.remove(1, 7)
	hub.Publish(ctxb, model.ConversationLeft(1, 7))
	hub.Publish(ctxb, model.MemberLeft(7, 1))
	hub.Publish(ctxb, model.MessageCreated(7, 100, 1, 1))
	hub.Publish(ctxb, model.ReadUpdated(1, 7, 1)) // fence for user 1
	c1.expect(t, model.ConversationLeft(1, 7))
	c1.expect(t, model.ReadUpdated(1, 7, 1))
	c2.expect(t, model.MemberLeft(7, 1))
	c2.expect(t, model.MessageCreated(7, 100, 1, 1))

	// User 1 joins 9 and hears about it without reconnecting.
	m.set(1, 9)
	hub.Publish(ctxb, model.ConversationJoined(1, 9))
	hub.Publish(ctxb, model.MemberJoined(9, 1))
	hub.Publish(ctxb, model.MessageCreated(9, 101, 1, 1))
	c1.expect(t, model.ConversationJoined(1, 9))
	c1.expect(t, model.MessageCreated(9, 101, 1, 1)) // member.joined is for the others
}

// A membership change that commits while a connection loads its
// memberships is not lost, whichever of the two the lookup saw.
func TestHub_MembershipChangeWhileConnecting(t *testing.T) {
	t.Parallel()
	m := newMembers(memberships{1: {7}, 2: {5}})
	hub := newTestHub(t, Config{}, NewMemoryBroker(), m)
	fence := hub.dial(t, 2, 2)

	m.mu.Lock()
	m.called, m.release = make(chan model.UserID), make(chan struct{})
	m.mu.Unlock()
	c1 := hub.dialRaw(t, 1, 1, nil)
	<-m.called // the lookup has its answer: {7}

	// Both changes commit after the lookup read.
	m.remove(1, 7)
	m.set(1, 8)
	hub.Publish(ctxb, model.ConversationLeft(1, 7))
	hub.Publish(ctxb, model.ConversationJoined(1, 8))
	hub.Publish(ctxb, model.ReadUpdated(2, 5, 1))
	fence.expect(t, model.ReadUpdated(2, 5, 1)) // the hub has seen both
	close(m.release)

	c1.expect(t, model.Hello(1)) // events before hello are covered by the sync it triggers
	hub.Publish(ctxb, model.MessageCreated(7, 100, 1, 1))
	hub.Publish(ctxb, model.MessageCreated(8, 101, 1, 1))
	c1.expect(t, model.MessageCreated(8, 101, 1, 1))
}

func TestHub_SlowReaderIsCutOff(t *testing.T) {
	t.Parallel()
	m := newMembers(memberships{1: {7}, 2: {7}})
	// A long WriteTimeout, so the close frame goes out once the slow client
	// reads again rather than the connection being dropped.
	hub := newTestHub(t, Config{SendQueue: 16, WriteTimeout: time.Minute}, NewMemoryBroker(), m, withSmallSendBuffers)
	slow := hub.dialRaw(t, 1, 1, &websocket.DialOptions{HTTPClient: smallReadBufferClient(t)})
	fast := hub.dial(t, 2, 2)

	// Publish in lockstep with the fast client; the slow one reads nothing.
	const n = 500                   // the slow client is cut off after about 60
	received := make(chan int64, n) // never blocks the reader, even if the test fails
	go func() {
		defer close(received)
		for range n {
			ev, err := fast.read(t)
			if err != nil {
				t.Errorf("fast client: %v", err)
				return
			}
			received <- ev.Seq
		}
	}()
	var worst time.Duration
	for i := int64(1); i <= n; i++ {
		start := time.Now()
		hub.Publish(ctxb, model.MessageCreated(7, model.MessageID(i), i, i))
		select {
		case seq, ok := <-received:
			if !ok {
				t.Fatalf("fast client stopped at %d", i)
			}
			if seq != i {
				t.Fatalf("fast client got seq %d, want %d", seq, i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("fast client waited over 10 s for seq %d", i)
		}
		worst = max(worst, time.Since(start))
	}
	t.Logf("fast client: %d events while the slow one read nothing; slowest publish→receive %v", n, worst)

	got := slow.expectClose(t, websocket.StatusPolicyViolation)
	t.Logf("slow client: %d frames, then the close", got)
	if got >= n+1 {
		t.Errorf("slow client got all %d frames, want it cut off", got)
	}
}

// smallReadBufferClient dials with a small receive buffer, so that a
// client that does not read fills it quickly.
func smallReadBufferClient(t *testing.T) *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestHub_ConnectionLimitPerUser(t *testing.T) {
	t.Parallel()
	m := newMembers(memberships{1: {7}})
	hub := newTestHub(t, Config{MaxConnsPerUser: 2}, NewMemoryBroker(), m)
	first := hub.dial(t, 1, 1)
	hub.dial(t, 1, 2)
	hub.dial(t, 2, 3) // another user has a limit of their own

	third := hub.dialRaw(t, 1, 3, nil)
	if n := third.expectClose(t, websocket.StatusPolicyViolation); n != 0 {
		t.Errorf("refused connection got %d frames, want 0", n)
	}

	if err := first.ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
	waitFor(t, "the server to drop the closed connection", func() bool { return hub.Stats().Conns == 2 })
	hub.dial(t, 1, 4)
}

// fakeClock is a Config.Now that moves only when told, and reports each
// reading on read (if set, buffered), so a test knows what the hub did.
type fakeClock struct {
	ns   atomic.Int64
	read chan struct{}
}

func (c *fakeClock) now() time.Time {
	t := time.Unix(0, c.ns.Load()) // before telling: the test may advance the clock once told
	if c.read != nil {
		c.read <- struct{}{}
	}
	return t
}

func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func typingFrame(conv model.ConversationID) string {
	return fmt.Sprintf(`{"type":"typing","conversation_id":%d}`, conv)
}

func TestHub_Typing(t *testing.T) {
	t.Parallel()
	m := newMembers(memberships{1: {10, 11}, 2: {10, 11}, 3: {12}})
	clock := &fakeClock{read: make(chan struct{}, 16)} // read once per typing frame
	clock.advance(time.Hour)
	hub := newTestHub(t, Config{TypingBurst: 2, TypingInterval: time.Minute, Now: clock.now}, NewMemoryBroker(), m)
	typist, typistOther, member, outsider := hub.dial(t, 1, 1), hub.dial(t, 1, 2), hub.dial(t, 2, 3), hub.dial(t, 3, 4)

	for _, conv := range []model.ConversationID{
		12, // not a member: dropped (and it spends a token)
		10, // passes
		10, // over the burst: dropped
		10, // dropped
	} {
		checkFrame(t, []byte(typingFrame(conv)), false)
		typist.send(t, websocket.MessageText, typingFrame(conv))
	}
	for range 4 { // the hub has rate-limited all four
		<-clock.read
	}
	clock.advance(time.Minute) // one more token
	typist.send(t, websocket.MessageText, typingFrame(11))

	member.expect(t, model.Typing(10, 1))
	member.expect(t, model.Typing(11, 1)) // nothing in between: the rest were dropped

	// Frames are handled in order, so the typist's are all done: fence the others.
	hub.Publish(ctxb, model.ReadUpdated(1, 10, 1))
	hub.Publish(ctxb, model.ReadUpdated(3, 12, 1))
	typist.expect(t, model.ReadUpdated(1, 10, 1))      // no typing echo
	typistOther.expect(t, model.ReadUpdated(1, 10, 1)) // nor to the typist's other devices
	outsider.expect(t, model.ReadUpdated(3, 12, 1))    // no typing about 12 from a non-member
}

func TestHub_BadClientFrames(t *testing.T) {
	t.Parallel()
	m := newMembers(memberships{1: {7}})
	hub := newTestHub(t, Config{}, NewMemoryBroker(), m)
	tests := []struct {
		name  string
		typ   websocket.MessageType
		frame string
		want  websocket.StatusCode
	}{
		{"Binary", websocket.MessageBinary, typingFrame(7), websocket.StatusUnsupportedData},
		{"UnknownType", websocket.MessageText, `{"type":"message.created","conversation_id":7}`, websocket.StatusPolicyViolation},
		{"NotJSON", websocket.MessageText, `typing 7`, websocket.StatusPolicyViolation},
		{"TooBig", websocket.MessageText, `{"type":"typing","conversation_id":7,"pad":"` + strings.Repeat("x", model.MaxClientFrameBytes) + `"}`, websocket.StatusMessageTooBig},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := hub.dial(t, 1, model.SessionID(i+1))
			c.send(t, tc.typ, tc.frame)
			c.expectClose(t, tc.want)
		})
	}
}

func TestHub_PingDropsSilentClients(t *testing.T) {
	t.Parallel()
	m := newMembers(memberships{1: {7}, 2: {7}})
	hub := newTestHub(t, Config{PingInterval: 20 * time.Millisecond, PingTimeout: time.Second}, NewMemoryBroker(), m)
	hub.dialRaw(t, 1, 1, nil) // never reads, so never answers a ping
	alive := hub.dial(t, 2, 2)
	frames := make(chan model.Event, 16)
	go func() { // keeps reading, so answers pings
		defer close(frames)
		for {
			ev, err := alive.read(t)
			if err != nil {
				return
			}
			frames <- ev
		}
	}()

	waitFor(t, "the silent client to be dropped", func() bool { return hub.Stats().Conns == 1 })
	hub.Publish(ctxb, model.MessageCreated(7, 100, 1, 1))
	select {
	case ev := <-frames:
		if diff := cmp.Diff(model.Event{Type: model.EventMessageCreated, ConversationID: 7, MessageID: 100, Seq: 1, EventSeq: 1}, ev); diff != "" {
			t.Errorf("frame (-want +got):\n%s", diff)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the answering client got nothing")
	}
	_ = alive.ws.CloseNow()
	for range frames {
	}
}

func TestHub_MembershipUnavailable(t *testing.T) {
	t.Parallel()
	m := newMembers(nil)
	m.fail(errors.New("database down"))
	hub := newTestHub(t, Config{}, NewMemoryBroker(), m)
	c := hub.dialRaw(t, 1, 1, nil)
	if n := c.expectClose(t, websocket.StatusInternalError); n != 0 {
		t.Errorf("got %d frames before the close, want 0", n)
	}
	waitFor(t, "Serve to report the error", func() bool { return hub.serveErrs.Load() == 1 })
}

func TestHub_Close(t *testing.T) {
	t.Parallel()
	m := newMembers(nil)
	hub := newTestHub(t, Config{ShutdownBatch: 2, ShutdownPause: 5 * time.Millisecond}, NewMemoryBroker(), m)
	var wg sync.WaitGroup
	for i := range 5 {
		c := hub.dial(t, model.UserID(i+1), 1)
		wg.Go(func() { c.expectClose(t, websocket.StatusServiceRestart) })
	}
	ctx, cancel := context.WithTimeout(ctxb, 10*time.Second)
	defer cancel()
	if err := hub.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	// Nothing else waits for the connections' goroutines: the api package
	// relies on Close.
	if s := hub.Stats(); s.Conns != 0 {
		t.Errorf("%d connections still served after Close, want 0", s.Conns)
	}
	wg.Wait()
	if err := hub.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
	late := hub.dialRaw(t, 9, 1, nil)
	late.expectClose(t, websocket.StatusServiceRestart)
	hub.Publish(ctxb, model.MessageCreated(7, 1, 1, 1)) // logs ErrClosed, does not panic
}

// Past its deadline, Close drops connections whose close handshake hangs.
func TestHub_CloseDeadline(t *testing.T) {
	t.Parallel()
	m := newMembers(nil)
	hub := newTestHub(t, Config{}, NewMemoryBroker(), m)
	hub.dial(t, 1, 1) // reads no more, so never answers the close frame
	ctx, cancel := context.WithTimeout(ctxb, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	hub.closeFailed = true
	if err := hub.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close: got %v, want deadline exceeded", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("close took %v, want about 200 ms", took)
	}
	if s := hub.Stats(); s.Conns != 0 {
		t.Errorf("%d connections left, want 0", s.Conns)
	}
}
