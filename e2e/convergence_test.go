package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
)

// TestSync_Converges is the sync protocol's randomized test. For each seed,
// a client holds a local model of one user's conversations (memberships,
// read markers, every message with its body, edited and deleted state) and
// follows the protocol of README.md ("Staying in sync") over a WebSocket to
// one of two instances sharing PostgreSQL and Redis. Meanwhile other users,
// and the same user on another device, post, edit, delete, join, leave and
// mark read through both instances, and the client is cut off at random
// moments (in the middle of a sync too) and reconnects to either instance.
// When the others stop, the client reconnects once more and syncs, and its
// model must equal the server's state exactly.
//
// PARLEY_SYNC_SEEDS=N runs N seeds (default 10); PARLEY_SYNC_SEED=S runs
// only seed S, the one a failure prints, to replay it. The actions follow
// from the seed; their timing does not, so a replay exercises the same
// script under different interleavings.
func TestSync_Converges(t *testing.T) {
	t.Parallel()
	seeds := []uint64{}
	if s := os.Getenv("PARLEY_SYNC_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PARLEY_SYNC_SEED=%q: %v", s, err)
		}
		seeds = append(seeds, seed)
	} else {
		n := 10
		if s := os.Getenv("PARLEY_SYNC_SEEDS"); s != "" {
			var err error
			if n, err = strconv.Atoi(s); err != nil || n < 1 {
				t.Fatalf("PARLEY_SYNC_SEEDS=%q: want a positive count", s)
			}
		}
		base := uint64(time.Now().UnixNano())
		for i := range n {
			seeds = append(seeds, base+uint64(i))
		}
	}
	_, a, b := startPair(t, nil)
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			if !runConvergence(t, seed, []string{a.URL, b.URL}) {
				t.Errorf("seed %d failed; replay it with PARLEY_SYNC_SEED=%d go test -run 'TestSync_Converges' ./e2e/", seed, seed)
			}
		})
	}
}

// localMessage is what a client holds of one message.
type localMessage struct {
	Seq     int64
	Sender  int64
	Body    string
	Edited  bool
	Deleted bool
}

// localConversation is what a client holds of one conversation.
type localConversation struct {
	EventSeq int64 // the changes it has applied, up to this event_seq
	ReadSeq  int64
	Messages map[int64]localMessage
}

// fullMessage is a Message as the sync client reads it.
type fullMessage struct {
	ID             int64      `json:"id"`
	ConversationID int64      `json:"conversation_id"`
	Seq            int64      `json:"seq"`
	SenderID       int64      `json:"sender_id"`
	Body           string     `json:"body"`
	EditedAt       *time.Time `json:"edited_at"`
	DeletedAt      *time.Time `json:"deleted_at"`
}

func (m fullMessage) local() localMessage {
	return localMessage{Seq: m.Seq, Sender: m.SenderID, Body: m.Body, Edited: m.EditedAt != nil, Deleted: m.DeletedAt != nil}
}

// syncConversation is a Conversation as the sync client reads it.
type syncConversation struct {
	ID           int64 `json:"id"`
	LastEventSeq int64 `json:"last_event_seq"`
	ReadSeq      int64 `json:"read_seq"`
}

type changeItem struct {
	EventSeq  int64  `json:"event_seq"`
	Type      string `json:"type"`
	MessageID int64  `json:"message_id"`
	Seq       int64  `json:"seq"`
}

type syncEvent struct {
	Type           string `json:"type"`
	ConversationID int64  `json:"conversation_id"`
	MessageID      int64  `json:"message_id"`
	Seq            int64  `json:"seq"`
	EventSeq       int64  `json:"event_seq"`
}

// protocolClient follows the sync protocol as README.md writes it down.
// Its REST calls go to the instance its WebSocket is on.
type protocolClient struct {
	me    int64
	token string
	rng   *rand.Rand // page sizes, so that paging is exercised

	convs    map[int64]*localConversation
	problems []string
}

// synced is a copy of a client's model just after a sync of session n.
type synced struct {
	session int
	convs   map[int64]*localConversation
}

func (p *protocolClient) snapshot() map[int64]*localConversation {
	out := make(map[int64]*localConversation, len(p.convs))
	for id, c := range p.convs {
		cp := *c
		cp.Messages = make(map[int64]localMessage, len(c.Messages))
		for k, v := range c.Messages {
			cp.Messages[k] = v
		}
		out[id] = &cp
	}
	return out
}

// session connects to base and handles frames until ctx ends or the
// connection or a REST call fails. After each sync it sends a copy of the
// model to done, if there is room.
func (p *protocolClient) session(ctx context.Context, base string, n int, done chan<- synced) error {
	c, _, err := dialWS(ctx, base, p.token, nil)
	if err != nil {
		return err
	}
	defer func() { _ = c.CloseNow() }()
	c.SetReadLimit(64 << 10)
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if err := checkFrame(data); err != nil {
			p.problems = append(p.problems, fmt.Sprintf("frame %s does not match asyncapi.yaml: %v", data, err))
		}
		var ev syncEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			return err
		}
		if err := p.handle(ctx, base, ev); err != nil {
			return err
		}
		if ev.Type == "hello" || ev.Type == "resync" {
			select {
			case done <- synced{n, p.snapshot()}:
			default:
			}
		}
	}
}

// handle applies one frame, as the protocol says.
func (p *protocolClient) handle(ctx context.Context, base string, ev syncEvent) error {
	switch ev.Type {
	case "hello", "resync":
		return p.syncAll(ctx, base)
	case "message.created", "message.updated", "message.deleted":
		conv := p.convs[ev.ConversationID]
		switch {
		case conv == nil || ev.EventSeq <= conv.EventSeq:
			return nil // not ours yet (a sync brings it), or held already
		case ev.EventSeq > conv.EventSeq+1:
			return p.pageChanges(ctx, base, ev.ConversationID, conv)
		}
		if err := p.fetch(ctx, base, conv, []int64{ev.MessageID}); err != nil {
			return err
		}
		conv.EventSeq = ev.EventSeq
	case "conversation.joined":
		var c syncConversation
		status, err := call(ctx, base, p.token, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d", ev.ConversationID), nil, &c,
			http.StatusOK, http.StatusNotFound)
		if err != nil || status == http.StatusNotFound { // left again already
			return err
		}
		return p.load(ctx, base, c)
	case "conversation.left":
		delete(p.convs, ev.ConversationID)
	case "read.updated":
		if conv := p.convs[ev.ConversationID]; conv != nil {
			conv.ReadSeq = max(conv.ReadSeq, ev.Seq)
		}
	}
	return nil
}

// syncAll pages the conversation list: new ones are loaded, gone ones
// dropped, and those with changes beyond what is held are paged.
func (p *protocolClient) syncAll(ctx context.Context, base string) error {
	listed := map[int64]bool{}
	var all []syncConversation
	cursor := ""
	for {
		var page struct {
			Items      []syncConversation `json:"items"`
			HasMore    bool               `json:"has_more"`
			NextCursor string             `json:"next_cursor"`
		}
		path := fmt.Sprintf("/api/v1/conversations?limit=%d", 1+p.rng.IntN(3))
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if _, err := call(ctx, base, p.token, http.MethodGet, path, nil, &page, http.StatusOK); err != nil {
			return err
		}
		all = append(all, page.Items...)
		if !page.HasMore {
			break
		}
		cursor = page.NextCursor
	}
	for _, c := range all {
		listed[c.ID] = true
	}
	for id := range p.convs {
		if !listed[id] {
			delete(p.convs, id)
		}
	}
	for _, c := range all {
		conv := p.convs[c.ID]
		if conv == nil {
			if err := p.load(ctx, base, c); err != nil {
				return err
			}
			continue
		}
		conv.ReadSeq = max(conv.ReadSeq, c.ReadSeq)
		if c.LastEventSeq > conv.EventSeq {
			if err := p.pageChanges(ctx, base, c.ID, conv); err != nil {
				return err
			}
		}
	}
	return nil
}

// load fetches a conversation new to the client, c as just listed, with
// all its messages; it is held only once complete, so a sync cut off
// halfway starts it over.
func (p *protocolClient) load(ctx context.Context, base string, c syncConversation) error {
	conv := &localConversation{EventSeq: c.LastEventSeq, ReadSeq: c.ReadSeq, Messages: map[int64]localMessage{}}
	var after int64
	for {
		var page struct {
			Items   []fullMessage `json:"items"`
			HasMore bool          `json:"has_more"`
		}
		path := fmt.Sprintf("/api/v1/conversations/%d/messages?after=%d&limit=%d", c.ID, after, 1+p.rng.IntN(5))
		status, err := call(ctx, base, p.token, http.MethodGet, path, nil, &page, http.StatusOK, http.StatusNotFound)
		if err != nil || status == http.StatusNotFound { // left meanwhile: the next sync tells
			return err
		}
		for _, m := range page.Items {
			p.apply(conv, m)
			after = m.Seq
		}
		if !page.HasMore {
			break
		}
	}
	if old := p.convs[c.ID]; old != nil { // a joined event and a sync crossed
		conv.ReadSeq = max(conv.ReadSeq, old.ReadSeq)
	}
	p.convs[c.ID] = conv
	return nil
}

// pageChanges pages conv's changes after what is held, fetching the
// messages they name, and moves what is held on after each page.
func (p *protocolClient) pageChanges(ctx context.Context, base string, id int64, conv *localConversation) error {
	for {
		var page struct {
			Items   []changeItem `json:"items"`
			HasMore bool         `json:"has_more"`
		}
		path := fmt.Sprintf("/api/v1/conversations/%d/changes?after=%d&limit=%d", id, conv.EventSeq, 1+p.rng.IntN(4))
		status, err := call(ctx, base, p.token, http.MethodGet, path, nil, &page, http.StatusOK, http.StatusNotFound)
		if err != nil || status == http.StatusNotFound {
			return err
		}
		ids := make([]int64, 0, len(page.Items))
		for _, c := range page.Items {
			if c.EventSeq <= conv.EventSeq {
				p.problems = append(p.problems, fmt.Sprintf("GET %s returned event_seq %d", path, c.EventSeq))
			}
			ids = append(ids, c.MessageID)
		}
		if err := p.fetch(ctx, base, conv, ids); err != nil {
			return err
		}
		if n := len(page.Items); n > 0 {
			conv.EventSeq = page.Items[n-1].EventSeq
		}
		if !page.HasMore {
			return nil
		}
	}
}

// fetch gets messages by id and applies them to conv.
func (p *protocolClient) fetch(ctx context.Context, base string, conv *localConversation, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = strconv.FormatInt(id, 10)
	}
	var l struct {
		Items []fullMessage `json:"items"`
	}
	if _, err := call(ctx, base, p.token, http.MethodGet, "/api/v1/messages?ids="+strings.Join(q, ","), nil, &l, http.StatusOK); err != nil {
		return err
	}
	for _, m := range l.Items {
		p.apply(conv, m)
	}
	return nil
}

// apply stores m; a message of one's own moves one's read marker to it.
func (p *protocolClient) apply(conv *localConversation, m fullMessage) {
	conv.Messages[m.ID] = m.local()
	if m.SenderID == p.me {
		conv.ReadSeq = max(conv.ReadSeq, m.Seq)
	}
}

// serverState reads u's conversations as the server has them now.
func serverState(tb testing.TB, base string, u *user) map[int64]*localConversation {
	tb.Helper()
	state := map[int64]*localConversation{}
	var page struct {
		Items   []syncConversation `json:"items"`
		HasMore bool               `json:"has_more"`
	}
	must(tb, base, u.Access, http.MethodGet, "/api/v1/conversations?limit=500", nil, &page, http.StatusOK)
	if page.HasMore {
		tb.Fatal("more than 500 conversations")
	}
	for _, c := range page.Items {
		conv := &localConversation{EventSeq: c.LastEventSeq, ReadSeq: c.ReadSeq, Messages: map[int64]localMessage{}}
		for after := int64(0); ; {
			var msgs struct {
				Items   []fullMessage `json:"items"`
				HasMore bool          `json:"has_more"`
			}
			must(tb, base, u.Access, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d/messages?after=%d&limit=100", c.ID, after), nil, &msgs, http.StatusOK)
			for _, m := range msgs.Items {
				conv.Messages[m.ID] = m.local()
				after = m.Seq
			}
			if !msgs.HasMore {
				break
			}
		}
		state[c.ID] = conv
	}
	return state
}

// actor is someone changing things while the client comes and goes: another
// user, or the client's own user on another device.
type actor struct {
	u     *user
	rng   *rand.Rand
	bases []string
	mine  map[int64][]int64 // conversation → ids of messages it posted there, not deleted
	in    map[int64]bool    // conversations it is a member of
}

// act does one random thing. Refusals that the randomness invites (editing
// a message deleted meanwhile by an admin, say) are not errors here; only
// failures of the server are.
func (a *actor) act(ctx context.Context, channels []int64) error {
	base := a.bases[a.rng.IntN(len(a.bases))]
	convs := make([]int64, 0, len(a.in))
	for c := range a.in {
		convs = append(convs, c)
	}
	slices.Sort(convs)
	switch k := a.rng.IntN(10); {
	case k < 4 && len(convs) > 0: // post
		conv := convs[a.rng.IntN(len(convs))]
		var m message
		_, err := call(ctx, base, a.u.Access, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/messages", conv),
			map[string]string{"body": fmt.Sprintf("%s says %d", a.u.Name, a.rng.IntN(1000))}, &m, http.StatusCreated)
		if err == nil {
			a.mine[conv] = append(a.mine[conv], m.ID)
		}
		return err
	case k < 6: // edit or delete one of its messages
		conv, ok := pick(a.rng, convs, func(c int64) bool { return len(a.mine[c]) > 0 })
		if !ok {
			return nil
		}
		i := a.rng.IntN(len(a.mine[conv]))
		id := a.mine[conv][i]
		if a.rng.IntN(3) == 0 {
			a.mine[conv] = slices.Delete(a.mine[conv], i, i+1)
			_, err := call(ctx, base, a.u.Access, http.MethodDelete, fmt.Sprintf("/api/v1/messages/%d", id), nil, nil, http.StatusOK)
			return err
		}
		_, err := call(ctx, base, a.u.Access, http.MethodPatch, fmt.Sprintf("/api/v1/messages/%d", id),
			map[string]string{"body": fmt.Sprintf("edited %d", a.rng.IntN(1000))}, nil, http.StatusOK)
		return err
	case k < 8: // mark read somewhere
		if len(convs) == 0 {
			return nil
		}
		conv := convs[a.rng.IntN(len(convs))]
		var c conversation
		if _, err := call(ctx, base, a.u.Access, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d", conv), nil, &c, http.StatusOK); err != nil {
			return err
		}
		_, err := call(ctx, base, a.u.Access, http.MethodPut, fmt.Sprintf("/api/v1/conversations/%d/read", conv),
			map[string]int64{"seq": a.rng.Int64N(c.LastSeq + 1)}, nil, http.StatusNoContent)
		return err
	default: // join or leave a channel
		ch := channels[a.rng.IntN(len(channels))]
		if a.in[ch] {
			delete(a.in, ch)
			delete(a.mine, ch) // what it posted there it can no longer change
			_, err := call(ctx, base, a.u.Access, http.MethodDelete, fmt.Sprintf("/api/v1/channels/%d/members/me", ch), nil, nil, http.StatusNoContent)
			return err
		}
		a.in[ch] = true
		_, err := call(ctx, base, a.u.Access, http.MethodPut, fmt.Sprintf("/api/v1/channels/%d/members/me", ch), nil, nil, http.StatusOK)
		return err
	}
}

// pick returns a random element of xs for which ok holds.
func pick(rng *rand.Rand, xs []int64, ok func(int64) bool) (int64, bool) {
	var fit []int64
	for _, x := range xs {
		if ok(x) {
			fit = append(fit, x)
		}
	}
	if len(fit) == 0 {
		return 0, false
	}
	return fit[rng.IntN(len(fit))], true
}

// runConvergence runs one seed and reports whether the client converged.
func runConvergence(t *testing.T, seed uint64, bases []string) bool {
	rng := rand.New(rand.NewPCG(seed, 1))
	me := register(t, bases[0], "me")
	others := []*user{register(t, bases[1], "ann"), register(t, bases[0], "ben"), register(t, bases[1], "cat")}
	device := login(t, bases[1], me) // the same user on another device

	// Three channels of ann's; some of the others and the client's user
	// start in them; ben and cat open direct conversations with the
	// client's user as they go.
	var channels []int64
	for i := range 3 {
		channels = append(channels, createChannel(t, bases[0], others[0], fmt.Sprintf("c%d_%x", i, rng.Uint32())))
	}
	newActor := func(u *user) *actor {
		return &actor{u: u, rng: rand.New(rand.NewPCG(seed, uint64(u.ID))), bases: bases, mine: map[int64][]int64{}, in: map[int64]bool{}}
	}
	actors := []*actor{newActor(device)}
	for _, u := range others {
		actors = append(actors, newActor(u))
	}
	for _, ch := range channels {
		actors[1].in[ch] = true
	}
	for _, a := range []*actor{actors[0], actors[2], actors[3]} {
		for _, ch := range channels {
			if rng.IntN(2) == 0 {
				join(t, bases[rng.IntN(2)], a.u, ch)
				a.in[ch] = true
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := &protocolClient{me: me.ID, token: me.Access, rng: rand.New(rand.NewPCG(seed, 2)), convs: map[int64]*localConversation{}}
	var (
		syncs   = make(chan synced, 256)
		mu      sync.Mutex // guards the three below
		current int        // the session running
		stopCur context.CancelFunc
		quiet   bool // sessions are no longer cut off
		running sync.WaitGroup
	)
	running.Add(1)
	go func() { // the client: connect, sync, get cut off, come back
		defer running.Done()
		crng := rand.New(rand.NewPCG(seed, 3))
		for n := 1; ctx.Err() == nil; n++ {
			sctx, scancel := context.WithCancel(ctx)
			mu.Lock()
			current, stopCur = n, scancel
			if !quiet { // cut off after a random while, whatever it is doing
				time.AfterFunc(time.Duration(20+crng.IntN(300))*time.Millisecond, scancel)
			}
			mu.Unlock()
			err := client.session(sctx, bases[crng.IntN(len(bases))], n, syncs)
			scancel()
			var ce websocket.CloseError
			if errors.As(err, &ce) && ce.Code != websocket.StatusPolicyViolation {
				client.problems = append(client.problems, fmt.Sprintf("closed by the server: %v", err))
			}
			time.Sleep(time.Duration(crng.IntN(80)) * time.Millisecond)
		}
	}()

	// Everyone acts at once; directs come from ben and cat along the way.
	var wg sync.WaitGroup
	failed := make(chan error, len(actors))
	for i, a := range actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 25 {
				if i >= 2 && n == 5+i { // ben and cat open their direct conversation with the client's user
					var c conversation
					if _, err := call(ctx, bases[n%2], a.u.Access, http.MethodPost, "/api/v1/conversations/direct",
						map[string]int64{"user_id": me.ID}, &c, http.StatusCreated); err != nil {
						failed <- err
						return
					}
					a.in[c.ID] = true
				}
				if err := a.act(ctx, channels); err != nil {
					var se *statusError
					if errors.As(err, &se) && se.Status < 500 {
						continue // refused: a race the randomness invites
					}
					failed <- fmt.Errorf("%s: %w", a.u.Name, err)
					return
				}
				time.Sleep(time.Duration(a.rng.IntN(20)) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(failed)
	for err := range failed {
		t.Errorf("seed %d: %v", seed, err)
	}

	// Quiet now: the client is cut off once more, comes back, syncs, and
	// must then hold exactly what the server has.
	mu.Lock()
	quiet = true
	last := current
	stopCur()
	mu.Unlock()
	var final synced
	select {
	case <-time.After(30 * time.Second):
		t.Errorf("seed %d: the client did not sync within 30 s of the quiet", seed)
		return false
	case final = <-waitSession(syncs, last):
	}
	want := serverState(t, bases[0], me)
	if diff := cmp.Diff(want, final.convs); diff != "" {
		t.Errorf("seed %d: the client's model differs from the server's state (-server +client):\n%s", seed, diff)
	}
	msgs := 0
	for _, c := range want {
		msgs += len(c.Messages)
	}
	t.Logf("seed %d: converged after %d sessions: %d conversations, %d messages", seed, final.session, len(want), msgs)
	cancel()
	running.Wait()
	if len(client.problems) > 0 {
		t.Errorf("seed %d: protocol problems:\n%s", seed, strings.Join(client.problems, "\n"))
		return false
	}
	return !t.Failed()
}

// waitSession returns a channel that yields the first of syncs from a
// session after n.
func waitSession(syncs <-chan synced, n int) <-chan synced {
	out := make(chan synced, 1)
	go func() {
		for s := range syncs {
			if s.session > n {
				out <- s
				return
			}
		}
	}()
	return out
}
