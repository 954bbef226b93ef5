package notify

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"parley/model"
)

// streamClient is a test's Server-Sent Events client: what the api's
// handler reads from Hub.Stream.
type streamClient struct {
	ch     <-chan []byte
	user   model.UserID
	cancel context.CancelFunc
}

// stream opens a stream for user and expects hello.
func (th *testHub) stream(t *testing.T, user model.UserID, session model.SessionID) *streamClient {
	t.Helper()
	s, err := th.streamRaw(t, user, session)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	s.expect(t, model.Hello(user))
	return s
}

func (th *testHub) streamRaw(t *testing.T, user model.UserID, session model.SessionID) (*streamClient, error) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := th.Stream(ctx, user, session)
	if err != nil {
		cancel()
		return nil, err
	}
	return &streamClient{ch: ch, user: user, cancel: cancel}, nil
}

// read returns the next frame, checked against asyncapi.yaml, or false if
// the stream was closed.
func (s *streamClient) read(tb testing.TB) (model.Event, bool) {
	tb.Helper()
	select {
	case data, ok := <-s.ch:
		if !ok {
			return model.Event{}, false
		}
		checkFrame(tb, data, true)
		var ev model.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			tb.Fatalf("user %d: %v", s.user, err)
		}
		return ev, true
	case <-time.After(10 * time.Second):
		tb.Fatalf("user %d: no frame for 10 s", s.user)
		return model.Event{}, false
	}
}

func (s *streamClient) expect(t *testing.T, want model.Event) {
	t.Helper()
	got, ok := s.read(t)
	if !ok {
		t.Fatalf("user %d: stream closed, want %s", s.user, want.Type)
	}
	want.To = model.Audience{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("user %d: frame (-want +got):\n%s", s.user, diff)
	}
}

// expectClosed reads until the stream closes and returns how many frames
// came first.
func (s *streamClient) expectClosed(tb testing.TB) int {
	tb.Helper()
	for n := 0; ; n++ {
		if _, ok := s.read(tb); !ok {
			return n
		}
	}
}

// A stream is routed like a WebSocket: hello first, the events of its
// user's conversations and none of others', membership changes at once.
func TestHub_Stream(t *testing.T) {
	t.Parallel()
	m := newMembers(memberships{1: {7}, 2: {8}})
	hub := newTestHub(t, Config{}, NewMemoryBroker(), m)
	member, other := hub.stream(t, 1, 1), hub.stream(t, 2, 2)
	ws := hub.dial(t, 1, 3)

	hub.Publish(ctxb, model.MessageCreated(7, 100, 1, 1))
	hub.Publish(ctxb, model.ReadUpdated(2, 8, 1)) // the fence for user 2
	member.expect(t, model.MessageCreated(7, 100, 1, 1))
	ws.expect(t, model.MessageCreated(7, 100, 1, 1))
	other.expect(t, model.ReadUpdated(2, 8, 1))

	m.set(2, 7)
	hub.Publish(ctxb, model.ConversationJoined(2, 7))
	hub.Publish(ctxb, model.MessageCreated(7, 101, 2, 2))
	other.expect(t, model.ConversationJoined(2, 7))
	other.expect(t, model.MessageCreated(7, 101, 2, 2))
	member.expect(t, model.MessageCreated(7, 101, 2, 2))

	// Canceling the caller's ctx ends the stream and frees its place.
	member.cancel()
	member.expectClosed(t)
	waitFor(t, "the stream to be unregistered", func() bool { return hub.Stats().Conns == 2 })
}

// A stream whose reader falls behind is dropped, without delaying others.
func TestHub_StreamSlowReaderIsDropped(t *testing.T) {
	t.Parallel()
	m := newMembers(memberships{1: {7}, 2: {7}})
	hub := newTestHub(t, Config{SendQueue: 8}, NewMemoryBroker(), m)
	slow, fast := hub.stream(t, 1, 1), hub.stream(t, 2, 2)
	const n = 100
	for i := int64(1); i <= n; i++ {
		hub.Publish(ctxb, model.MessageCreated(7, model.MessageID(i), i, i))
		fast.expect(t, model.MessageCreated(7, model.MessageID(i), i, i))
	}
	got := slow.expectClosed(t)
	t.Logf("slow stream: %d frames, then closed", got)
	if got >= n {
		t.Errorf("slow stream got %d frames, want it dropped before %d", got, n)
	}
}

// Streams and WebSockets share the per-user connection limit.
func TestHub_StreamConnectionLimit(t *testing.T) {
	t.Parallel()
	m := newMembers(nil)
	hub := newTestHub(t, Config{MaxConnsPerUser: 2}, NewMemoryBroker(), m)
	first := hub.stream(t, 1, 1)
	hub.dial(t, 1, 2)
	_, err := hub.streamRaw(t, 1, 3)
	var e *model.Error
	if !errors.As(err, &e) || e.Code != model.ERateLimited {
		t.Fatalf("third stream: got %v, want rate_limited", err)
	}
	ws := hub.dialRaw(t, 1, 3, nil)
	ws.expectClose(t, websocket.StatusPolicyViolation)
	hub.stream(t, 2, 4) // another user has a limit of their own

	first.cancel()
	first.expectClosed(t)
	waitFor(t, "the stream to be unregistered", func() bool { return hub.Stats().Conns == 2 })
	hub.stream(t, 1, 5)
}

func TestHub_StreamMembershipUnavailable(t *testing.T) {
	t.Parallel()
	m := newMembers(nil)
	m.fail(errors.New("database down"))
	hub := newTestHub(t, Config{}, NewMemoryBroker(), m)
	if _, err := hub.streamRaw(t, 1, 1); err == nil {
		t.Fatal("got a stream, want an error")
	}
	if s := hub.Stats(); s.Conns != 0 {
		t.Errorf("%d connections left, want 0", s.Conns)
	}
}

// Hub.Close closes streams, and refuses new ones with ErrClosed.
func TestHub_StreamClose(t *testing.T) {
	t.Parallel()
	m := newMembers(memberships{1: {7}})
	hub := newTestHub(t, Config{}, NewMemoryBroker(), m)
	s := hub.stream(t, 1, 1)
	stalled, err := hub.streamRaw(t, 2, 2) // never reads, not even hello
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctxb, 10*time.Second)
	defer cancel()
	if err := hub.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	s.expectClosed(t)
	stalled.expectClosed(t)
	if _, err := hub.streamRaw(t, 1, 2); !errors.Is(err, ErrClosed) {
		t.Fatalf("stream after close: got %v, want ErrClosed", err)
	}
}
