package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"parley/api"
	"parley/db"
	"parley/internal/dbtest"
	"parley/model"
	"parley/notify"
)

// TestEvents_Stream checks that Server-Sent Events carry the frames a
// WebSocket gets, with ids on message.created.
func TestEvents_Stream(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	general := alice.channel("general")
	secret := alice.channel("secret")
	bob.put(fmt.Sprintf("/api/v1/channels/%d/members/me", general), nil).want(http.StatusOK)
	sse, ws := bob.stream(t, ""), bob.dial(t)

	if got := sse.header.Get("Content-Type"); got != "text/event-stream" {
		t.Errorf("got Content-Type %q, want text/event-stream", got)
	}
	if got := sse.header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("got Cache-Control %q, want no-cache", got)
	}
	if ms, err := strconv.Atoi(sse.retry); err != nil || ms < 2000 || ms > 5000 {
		t.Errorf("got retry %q, want 2000 to 5000 ms", sse.retry)
	}

	alice.send(secret, "not for bob")
	m := alice.send(general, "for bob")
	e := decodeJSON[messageJSON](alice.patch(fmt.Sprintf("/api/v1/messages/%d", m.ID), map[string]string{"body": "edited"}).want(http.StatusOK))
	for _, c := range []*frames{sse.frames, ws.frames} {
		c.want(created(m), updated(e))
	}
	if got := sse.nextID(); got != strconv.FormatInt(m.ID, 10) {
		t.Errorf("got id %q, want the message id %d", got, m.ID)
	}
}

// TestEvents_ResumeEveryChange checks that a resumed stream replays every
// kind of change it can: edits and deletions of messages the client held,
// new messages, conversations joined and read markers moved, each message
// once at its latest change, with its event_seq, in the order they
// happened.
func TestEvents_ResumeEveryChange(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	general := alice.channel("general")
	news := alice.channel("news")
	bob.put(fmt.Sprintf("/api/v1/channels/%d/members/me", general), nil).want(http.StatusOK)

	sse := bob.stream(t, "")
	m1, m2, m3 := alice.send(general, "one"), alice.send(general, "two"), alice.send(general, "three")
	sse.want(created(m1).at(1), created(m2).at(2), created(m3).at(3))
	sse.nextID()
	sse.nextID()
	last := sse.nextID()
	sse.close()

	// While bob is away: an edit and a deletion of what he holds, a post
	// that is then edited, a channel he joins and his read marker, moved
	// on another device.
	e1 := decodeJSON[messageJSON](alice.patch(fmt.Sprintf("/api/v1/messages/%d", m1.ID), map[string]string{"body": "one!"}).want(http.StatusOK))  // 4
	alice.delete(fmt.Sprintf("/api/v1/messages/%d", m2.ID)).want(http.StatusOK)                                                                   // 5
	m4 := alice.send(general, "four")                                                                                                             // 6
	e4 := decodeJSON[messageJSON](alice.patch(fmt.Sprintf("/api/v1/messages/%d", m4.ID), map[string]string{"body": "four!"}).want(http.StatusOK)) // 7
	bob.put(fmt.Sprintf("/api/v1/channels/%d/members/me", news), nil).want(http.StatusOK)
	bob.put(fmt.Sprintf("/api/v1/conversations/%d/read", general), map[string]int64{"seq": 3}).want(http.StatusNoContent)

	sse = bob.stream(t, last)
	sse.want(updated(e1).at(4), deleted(m2).at(5), updated(e4).at(7), readUpdated(general, 3), joined(news))
	m5 := alice.send(general, "five")
	sse.want(created(m5).at(8))
	if got := sse.nextID(); got != strconv.FormatInt(m5.ID, 10) {
		t.Errorf("got id %q, want the new message's id %d", got, m5.ID)
	}
}

func TestEvents_Heartbeat(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(cfg *api.Config) { cfg.EventsHeartbeat = 10 * time.Millisecond })
	sse := s.register(t, "bob").stream(t, "")
	select {
	case <-sse.comments:
	case <-time.After(eventWait):
		t.Fatal("no heartbeat comment")
	}
}

// TestEvents_Resume checks that a stream resumed with Last-Event-ID gets
// exactly what was posted in the user's conversations meanwhile, then the
// live events.
func TestEvents_Resume(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	general := alice.channel("general")
	secret := alice.channel("secret")
	direct := alice.direct(bob)
	bob.put(fmt.Sprintf("/api/v1/channels/%d/members/me", general), nil).want(http.StatusOK)

	sse := bob.stream(t, "")
	m1, m2 := alice.send(general, "one"), alice.send(direct, "two")
	sse.want(created(m1), created(m2))
	sse.nextID()
	last := sse.nextID()
	sse.close()

	m3 := alice.send(general, "three")
	alice.send(secret, "not for bob")
	m4 := alice.send(direct, "four")
	m5 := alice.send(general, "five")

	sse = bob.stream(t, last)
	sse.want(created(m3), created(m4), created(m5))
	for _, m := range []messageJSON{m3, m4, m5} {
		if got := sse.nextID(); got != strconv.FormatInt(m.ID, 10) {
			t.Errorf("got id %q, want %d", got, m.ID)
		}
	}
	m6 := alice.send(direct, "six")
	sse.want(created(m6))

	t.Run("UpToDate", func(t *testing.T) {
		sse := bob.in(t).stream(t, strconv.FormatInt(m6.ID, 10))
		m7 := alice.in(t).send(general, "seven")
		sse.want(created(m7))
	})
	t.Run("BadCursor", func(t *testing.T) {
		sse := bob.in(t).stream(t, "not-a-cursor")
		sse.want(resync())
	})
	t.Run("TooMuchMissed", func(t *testing.T) {
		from := alice.in(t).send(general, "from here")
		for i := range 101 { // one more than a resumed stream replays
			alice.in(t).send(general, strconv.Itoa(i))
		}
		sse := bob.in(t).stream(t, strconv.FormatInt(from.ID, 10))
		sse.want(resync())
		m := alice.in(t).send(general, "live again")
		sse.want(created(m))
	})
}

// TestEvents_NoGapNoDuplicate reconnects a stream again and again while
// messages are posted, and checks that it hears of every message exactly
// once.
func TestEvents_NoGapNoDuplicate(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	conv := alice.direct(bob)
	const n, perStream = 60, 7
	// The first stream opens before anything is posted: a stream that does
	// not resume starts with what is posted after it opens.
	sse := bob.stream(t, "")

	var wg sync.WaitGroup
	wg.Go(func() {
		body := []byte(`{"body":"m"}`)
		for range n {
			req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/v1/conversations/%d/messages", s.url, conv), bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+alice.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("post: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("post: got %d, want 201", resp.StatusCode)
				return
			}
		}
	})
	defer wg.Wait()

	seen := map[int64]int{}
	var got []int64
	last := ""
	for len(got) < n {
		if sse == nil {
			sse = bob.stream(t, last)
		}
		for k := 0; k < perStream && len(got) < n; k++ {
			f := sse.next()
			if f.Type != "message.created" {
				t.Fatalf("got %v, want message.created", f)
			}
			seen[f.Seq]++
			got = append(got, f.Seq)
			last = sse.nextID()
		}
		sse.close()
		sse = nil
	}
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("seqs heard, in order (-want +got):\n%s", diff)
	}
}

// TestEvents_Refused checks the answers before a stream opens.
func TestEvents_Refused(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.client(t).get("/api/v1/events").wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
	r := s.client(t).as("not-a-token").get("/api/v1/events")
	r.wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
	var e map[string]any
	if json.Unmarshal(r.Body, &e) != nil {
		t.Errorf("got %s, want a JSON error", r.Body)
	}
}

// While the instance shuts down, a new stream is refused with 503, so the
// client retries and the load balancer sends it elsewhere.
func TestEvents_ShuttingDown(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice := s.register(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.hub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	alice.get("/api/v1/events").wantError(http.StatusServiceUnavailable, model.EUnavailable, "")
}

// seamStore posts a message, and publishes it, just before a resumed
// stream looks for what it missed: the message is then both replayed and
// live, as when it commits at the wrong moment.
type seamStore struct {
	api.Store
	db  *db.Store
	hub atomic.Pointer[notify.Hub]

	mu     sync.Mutex
	armed  *model.Message // posted on the next ListChangesSince
	posted chan model.Message
}

func (s *seamStore) ListChangesSince(ctx context.Context, actor model.UserID, after model.MessageID, limit int) ([]model.Event, bool, error) {
	s.mu.Lock()
	m := s.armed
	s.armed = nil
	s.mu.Unlock()
	if m != nil {
		if _, err := s.db.CreateMessage(ctx, m); err != nil {
			return nil, false, err
		}
		s.hub.Load().Publish(ctx, model.MessageCreated(m.ConversationID, m.ID, m.Seq, m.EventSeq))
		s.posted <- *m
	}
	return s.Store.ListChangesSince(ctx, actor, after, limit)
}

func TestEvents_ResumeSeam(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	store := &seamStore{Store: database, db: database, posted: make(chan model.Message, 1)}
	s := startServer(t, database, store, options{cfg: api.Config{JWTSecret: secret, Limits: generous}})
	store.hub.Store(s.hub)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	conv := alice.direct(bob)

	sse := bob.stream(t, "")
	sse.want(created(alice.send(conv, "one")))
	last := sse.nextID()
	sse.close()
	missed := alice.send(conv, "two")

	store.mu.Lock()
	store.armed = &model.Message{ConversationID: model.ConversationID(conv), SenderID: model.UserID(alice.ID), Body: "at the seam"}
	store.mu.Unlock()
	sse = bob.stream(t, last)
	var seam model.Message
	select {
	case seam = <-store.posted:
	case <-time.After(eventWait):
		t.Fatalf("the message at the seam was not posted within %v", eventWait)
	}
	sse.want(created(missed), eventFrame{Type: "message.created", ConversationID: conv, MessageID: int64(seam.ID), Seq: seam.Seq})
	sse.want(created(alice.send(conv, "four"))) // and not the seam's message again
}
