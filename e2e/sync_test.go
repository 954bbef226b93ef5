package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
)

// syncClient is a client that follows the event channel's sync protocol
// (asyncapi.yaml, "Staying in sync") and reconnects by itself, as a real
// app would:
//   - after hello (every connect) and after resync, GET /conversations and,
//     for each conversation whose last_seq is beyond what it holds, page
//     GET /conversations/{id}/messages?after=<held>&limit=100 until has_more
//     is false;
//   - on message.created with the next seq, append it; with a seq it holds,
//     ignore it; beyond the next, page after= what it holds;
//   - when the connection drops, reconnect after a short random delay.
//
// Its history is seq → message id per conversation. Anything that breaks
// the protocol's promises (a page that skips a seq, an event whose id
// contradicts what it holds) is recorded and fails the test.
type syncClient struct {
	name string
	base string
	u    *user

	mu        sync.Mutex
	hist      map[int64][]msgRef
	connects  int
	resyncs   int
	gapFills  int
	upstreams []string // the instance nginx chose for each connection
	closes    []string // how each connection ended
	problems  []string
	changed   chan struct{}
}

// startSync runs a syncClient for u against base until tb ends.
func startSync(tb testing.TB, base string, u *user, name string) *syncClient {
	tb.Helper()
	s := &syncClient{name: name, base: base, u: u, hist: map[int64][]msgRef{}, changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		awaitDone(tb, done, stopTimeout, "sync client after cancel")
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.problems {
			tb.Errorf("%s: %s", name, p)
		}
	})
	return s
}

func (s *syncClient) run(ctx context.Context) {
	for ctx.Err() == nil {
		end := s.session(ctx)
		s.mu.Lock()
		s.closes = append(s.closes, end)
		s.poke()
		s.mu.Unlock()
		// Reconnect after a random delay, so that the clients of a lost
		// instance do not all come back at once.
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(50+rand.IntN(200)) * time.Millisecond):
		}
	}
}

// session runs one connection until it ends and says how it ended.
func (s *syncClient) session(ctx context.Context) string {
	c, hs, err := dialWS(ctx, s.base, s.u.Access, nil)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer func() { _ = c.CloseNow() }()
	c.SetReadLimit(64 << 10)
	s.mu.Lock()
	s.connects++
	s.upstreams = append(s.upstreams, servedBy(hs.Header.Get(upstreamHeader)))
	s.poke()
	s.mu.Unlock()
	for first := true; ; first = false {
		_, data, err := c.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return fmt.Sprintf("closed %d %s", ce.Code, ce.Reason)
			}
			return "read: " + err.Error()
		}
		var ev event
		if err := json.Unmarshal(data, &ev); err != nil {
			s.problem("frame %q is not JSON", data)
			continue
		}
		if err := checkFrame(data); err != nil {
			s.problem("frame %s does not match asyncapi.yaml: %v", data, err)
		}
		if first && ev.Type != "hello" {
			s.problem("first frame %v, want hello", ev)
		}
		if err := s.handle(ctx, ev); err != nil {
			// REST failed (the instance behind nginx died, say): start over
			// with a new connection, which syncs from hello.
			_ = c.Close(websocket.StatusNormalClosure, "")
			return "sync: " + err.Error()
		}
	}
}

func (s *syncClient) handle(ctx context.Context, ev event) error {
	switch ev.Type {
	case "hello":
		return s.syncAll(ctx)
	case "resync":
		s.mu.Lock()
		s.resyncs++
		s.poke()
		s.mu.Unlock()
		return s.syncAll(ctx)
	case "message.created":
		s.mu.Lock()
		h := s.hist[ev.ConversationID]
		held := int64(len(h))
		switch {
		case ev.Seq == held+1:
			s.hist[ev.ConversationID] = append(h, msgRef{Seq: ev.Seq, ID: ev.MessageID})
			s.poke()
			s.mu.Unlock()
			return nil
		case ev.Seq <= held:
			if h[ev.Seq-1].ID != ev.MessageID {
				s.problemLocked("event %v: seq %d is message %d here", ev, ev.Seq, h[ev.Seq-1].ID)
			}
			s.mu.Unlock()
			return nil
		}
		s.gapFills++
		s.mu.Unlock()
		return s.page(ctx, ev.ConversationID)
	}
	return nil
}

// syncAll fetches the conversations and pages each one that moved on.
func (s *syncClient) syncAll(ctx context.Context) error {
	var l struct {
		Items []conversation `json:"items"`
	}
	if _, err := call(ctx, s.base, s.u.Access, http.MethodGet, "/api/v1/conversations", nil, &l, http.StatusOK); err != nil {
		return err
	}
	for _, c := range l.Items {
		if c.LastSeq > s.held(c.ID) {
			if err := s.page(ctx, c.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// page pages conv forward from the last seq held until has_more is false.
func (s *syncClient) page(ctx context.Context, conv int64) error {
	for {
		after := s.held(conv)
		var p messagePage
		path := fmt.Sprintf("/api/v1/conversations/%d/messages?after=%d&limit=100", conv, after)
		if _, err := call(ctx, s.base, s.u.Access, http.MethodGet, path, nil, &p, http.StatusOK); err != nil {
			return err
		}
		s.mu.Lock()
		for _, m := range p.Items {
			h := s.hist[conv]
			if m.Seq != int64(len(h))+1 {
				s.problemLocked("GET %s returned seq %d after holding %d", path, m.Seq, len(h))
				continue
			}
			s.hist[conv] = append(h, msgRef{Seq: m.Seq, ID: m.ID})
		}
		s.poke()
		s.mu.Unlock()
		if !p.HasMore {
			return nil
		}
		if len(p.Items) == 0 {
			return fmt.Errorf("GET %s: has_more with no items", path)
		}
	}
}

func (s *syncClient) held(conv int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.hist[conv]))
}

func (s *syncClient) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problemLocked(format, args...)
}

func (s *syncClient) problemLocked(format string, args ...any) {
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

// poke wakes waiters; the caller holds s.mu.
func (s *syncClient) poke() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitUntil waits up to d for cond, evaluated under s.mu after every
// change, and fails tb with what if it does not hold in time.
func (s *syncClient) waitUntil(tb testing.TB, d time.Duration, what string, cond func(s *syncClient) bool) {
	tb.Helper()
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		s.mu.Lock()
		ok := cond(s)
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-t.C:
			s.mu.Lock()
			defer s.mu.Unlock()
			tb.Fatalf("%s: %s: not within %s (connects %d, resyncs %d, ends %q)",
				s.name, what, d, s.connects, s.resyncs, s.closes)
		}
	}
}

// converge waits until the client holds as many messages of conv as want
// and then checks that they are exactly want: same seqs, same ids, no gap,
// no duplicate.
func (s *syncClient) converge(tb testing.TB, d time.Duration, conv int64, want []msgRef) {
	tb.Helper()
	s.waitUntil(tb, d, fmt.Sprintf("hold all %d messages of conversation %d", len(want), conv), func(s *syncClient) bool {
		return len(s.hist[conv]) >= len(want)
	})
	s.mu.Lock()
	got := append([]msgRef(nil), s.hist[conv]...)
	s.mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		tb.Errorf("%s: history of conversation %d differs from PostgreSQL's (-want +got):\n%s", s.name, conv, diff)
	}
}

// stats returns the counters, for checks and for the log.
func (s *syncClient) stats() (connects, resyncs, gapFills int, upstreams, closes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects, s.resyncs, s.gapFills, append([]string(nil), s.upstreams...), append([]string(nil), s.closes...)
}
