package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/client"
	"parley/internal/testserver"
	"parley/model"
)

// proxy is a TCP proxy in front of parley instances (round robin) that a
// test can cut: every connection through it drops at once, and new ones
// are refused until it is restored. It stands for a network that fails.
type proxy struct {
	URL     string
	ln      net.Listener
	targets []string

	mu    sync.Mutex
	conns map[net.Conn]bool
	down  bool
	next  int
	cuts  int
}

func newProxy(t *testing.T, targets ...string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{URL: "http://" + ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	for _, u := range targets {
		p.targets = append(p.targets, strings.TrimPrefix(u, "http://"))
	}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
	})
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		target := p.targets[p.next%len(p.targets)]
		p.next++
		p.conns[c] = true
		p.mu.Unlock()
		go p.pipe(c, target)
	}
}

func (p *proxy) pipe(c net.Conn, target string) {
	u, err := net.Dial("tcp", target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.down || !p.conns[c] {
		p.mu.Unlock()
		_ = c.Close()
		_ = u.Close()
		return
	}
	p.conns[u] = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(u, c)
		close(done)
	}()
	_, _ = io.Copy(c, u)
	_ = c.Close()
	_ = u.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// cut drops every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	p.cuts++
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// msgState is what a client shows of a message.
type msgState struct {
	Conv    model.ConversationID
	Seq     int64
	Body    string
	Deleted bool
}

func stateOf(m client.Message) msgState {
	return msgState{Conv: m.ConversationID, Seq: m.Seq, Body: m.Body, Deleted: m.DeletedAt != nil}
}

// recorder consumes a subscription as an app would: it keeps the messages
// as the updates say they are, and notes every breach of the promise that
// each change comes once, in order per conversation.
type recorder struct {
	mu        sync.Mutex
	msgs      map[model.MessageID]msgState
	delivered map[model.ConversationID][]int64 // event_seqs, in delivery order
	synced    int
	drops     int
	offline   bool // between a Disconnected and the next Synced
	caughtUp  int  // changes delivered by a sync after a disconnect
	problems  []string
	changed   chan struct{}
	done      chan struct{}
}

func record(sub *client.Subscription) *recorder {
	r := &recorder{msgs: map[model.MessageID]msgState{}, delivered: map[model.ConversationID][]int64{},
		changed: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for u := range sub.Updates() {
			r.apply(u)
		}
	}()
	return r
}

func (r *recorder) apply(u client.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch u.Type {
	case client.Synced:
		r.synced++
		r.offline = false
	case client.Disconnected:
		r.drops++
		r.offline = true
	case client.MessageChanged:
		if r.offline {
			r.caughtUp++
		}
		seqs := r.delivered[u.ConversationID]
		if n := len(seqs); n > 0 && u.EventSeq <= seqs[n-1] {
			r.problems = append(r.problems, fmt.Sprintf("conversation %d: event_seq %d delivered after %d",
				u.ConversationID, u.EventSeq, seqs[n-1]))
		}
		r.delivered[u.ConversationID] = append(seqs, u.EventSeq)
		if u.Message.ConversationID != u.ConversationID {
			r.problems = append(r.problems, fmt.Sprintf("update for conversation %d holds message %+v", u.ConversationID, u.Message))
		}
		r.msgs[u.Message.ID] = stateOf(u.Message)
	}
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds of the recorder (called under its lock).
func (r *recorder) waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}

// serverState reads every message of convs from the server, as c may.
func serverState(t *testing.T, c *client.Client, convs ...model.ConversationID) map[model.MessageID]msgState {
	t.Helper()
	state := map[model.MessageID]msgState{}
	for _, id := range convs {
		after := int64(0)
		for {
			p, err := c.History(ctx(t), id, client.HistoryQuery{After: after, Limit: 100})
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			for _, m := range p.Items {
				state[m.ID] = stateOf(m)
				after = m.Seq
			}
			if !p.HasMore {
				break
			}
		}
	}
	return state
}

// TestSubscription_ForcedDisconnects follows alice's subscription, through
// a proxy that keeps cutting the network, while bob posts, edits and
// deletes in a channel and their direct conversation on two instances
// that share Redis. Afterwards alice must hold exactly the server's
// messages, and must have been given each change at most once, in order
// per conversation, including the latest change of every message.
func TestSubscription_ForcedDisconnects(t *testing.T) {
	d := testserver.NewDeployment(t, true)
	a, b := d.Start(t), d.Start(t)
	px := newProxy(t, a.URL, b.URL)
	alice := newUser(t, px.URL, "alice")
	bob := newUser(t, b.URL, "bob")
	aliceOnA, err := client.New(a.URL, client.Options{Session: alice.Session()}) // alice's other device
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	ch, err := alice.CreateChannel(c, client.ChannelRequest{Name: fmt.Sprintf("sync-%d", alice.Session().User.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinChannel(c, ch.ID); err != nil {
		t.Fatal(err)
	}
	dm, err := bob.OpenDirect(c, alice.Session().User.ID)
	if err != nil {
		t.Fatal(err)
	}

	subCtx, stop := context.WithCancel(context.Background())
	sub := alice.Subscribe(subCtx, nil)
	rec := record(sub)
	t.Cleanup(func() {
		stop()
		<-rec.done
	})
	rec.waitFor(t, 30*time.Second, "the first sync", func() bool { return rec.synced >= 1 })

	// Writers: bob in both conversations, alice's other device in the
	// channel. Each posts, edits and deletes its own messages at random.
	var writers sync.WaitGroup
	writersDone := make(chan struct{})
	write := func(who *client.Client, conv model.ConversationID, seed uint64) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		var mine []model.MessageID
		for i := range 60 {
			wctx := ctx(t)
			switch n := rnd.IntN(100); {
			case n < 55 || len(mine) == 0:
				m, err := who.PostMessage(wctx, conv, client.MessageRequest{Body: fmt.Sprintf("message %d of %d", i, seed)})
				if err != nil {
					t.Errorf("post: %v", err)
					return
				}
				mine = append(mine, m.ID)
			case n < 85:
				if _, err := who.EditMessage(wctx, mine[rnd.IntN(len(mine))], fmt.Sprintf("edit %d of %d", i, seed)); err != nil && client.Code(err) != model.EConflict {
					t.Errorf("edit: %v", err) // conflict: it was deleted already
					return
				}
			default:
				if _, err := who.DeleteMessage(wctx, mine[rnd.IntN(len(mine))]); err != nil {
					t.Errorf("delete: %v", err)
					return
				}
			}
			time.Sleep(time.Duration(5+rnd.IntN(30)) * time.Millisecond)
		}
	}
	writers.Go(func() { write(bob, ch.ID, 1) })
	writers.Go(func() { write(bob, dm.ID, 2) })
	writers.Go(func() { write(aliceOnA, ch.ID, 3) })
	go func() {
		writers.Wait()
		close(writersDone)
	}()

	// The network fails again and again while they write.
	cuts := 0
	for done := false; !done || cuts < 6; {
		select {
		case <-writersDone:
			done = true
			writersDone = nil
		case <-time.After(time.Duration(150+rand.IntN(250)) * time.Millisecond):
			px.cut()
			cuts++
			time.Sleep(time.Duration(50+rand.IntN(400)) * time.Millisecond)
			px.restore()
		}
	}
	if t.Failed() {
		return
	}
	want := serverState(t, bob, ch.ID, dm.ID)
	rec.waitFor(t, 60*time.Second, "alice's messages equal to the server's", func() bool {
		return fmt.Sprint(rec.msgs) == fmt.Sprint(want)
	})

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, p := range rec.problems {
		t.Error(p)
	}
	// The latest change of every message, as the feed gives it, must be
	// among those delivered.
	for _, conv := range []model.ConversationID{ch.ID, dm.ID} {
		feed, err := bob.Changes(ctx(t), conv, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]bool{}
		for _, s := range rec.delivered[conv] {
			got[s] = true
		}
		for _, item := range feed.Items {
			if !got[item.EventSeq] {
				t.Errorf("conversation %d: change %d (%s of message %d) was never delivered", conv, item.EventSeq, item.Type, item.MessageID)
			}
		}
	}
	// A cut that lands while the client waits to reconnect drops nothing, so
	// under load far fewer disconnects than cuts are normal.
	if rec.drops < 3 || rec.synced < 2 || rec.caughtUp == 0 {
		t.Errorf("%d cuts gave %d disconnects, %d syncs, %d changes caught up on reconnect; the test did not exercise reconnecting",
			cuts, rec.drops, rec.synced, rec.caughtUp)
	}
	t.Logf("%d messages, %d cuts, %d disconnects, %d syncs, %d changes caught up on reconnect",
		len(want), cuts, rec.drops, rec.synced, rec.caughtUp)
}

// TestSubscription_LoggedOut ends the subscription, with ErrLoggedOut, when
// the login ends elsewhere.
func TestSubscription_LoggedOut(t *testing.T) {
	srv := testserver.NewDeployment(t, false).Start(t)
	alice := newUser(t, srv.URL, "alice")
	sub := alice.Subscribe(context.Background(), nil)
	defer sub.Close()
	waitUpdate(t, sub, client.Synced)
	other, err := client.New(srv.URL, client.Options{Session: alice.Session()})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Logout(ctx(t)); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case _, ok := <-sub.Updates():
			if !ok {
				if err := sub.Err(); !errors.Is(err, client.ErrLoggedOut) {
					t.Fatalf("Err: got %v, want ErrLoggedOut", err)
				}
				return
			}
		case <-deadline:
			t.Fatal("the subscription did not end within 30s of the logout")
		}
	}
}

// waitUpdate reads sub until an update of type typ.
func waitUpdate(t *testing.T, sub *client.Subscription, typ client.UpdateType) client.Update {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case u, ok := <-sub.Updates():
			if !ok {
				t.Fatalf("the subscription ended (%v) before an update of type %d", sub.Err(), typ)
			}
			if u.Type == typ {
				return u
			}
		case <-deadline:
			t.Fatalf("no update of type %d within 30s", typ)
		}
	}
}
