package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"parley/model"
)

// Close codes and reasons the Hub sends. asyncapi.yaml documents them.
const (
	reasonSlow       = "too slow: send queue full, reconnect and refetch"
	reasonTooMany    = "too many connections for this user"
	reasonRestart    = "server restarting, reconnect"
	reasonMembership = "could not load memberships, reconnect"
	reasonBinary     = "text frames only"
	reasonMalformed  = "malformed frame"
)

// Config holds the Hub's tunables; zero values mean the defaults.
type Config struct {
	// SendQueue is how many frames may wait for one connection; a
	// connection that lets more pile up is closed with 1008 (policy
	// violation). Default 256.
	SendQueue int
	// PingInterval is how often each connection is pinged. Default 25 s.
	PingInterval time.Duration
	// PingTimeout is how long a pong may take before the connection is
	// dropped. Default 15 s.
	PingTimeout time.Duration
	// WriteTimeout bounds the writing of each batch of queued frames (at
	// most SendQueue). Default 10 s.
	WriteTimeout time.Duration
	// MaxConnsPerUser caps one user's connections on this instance; more are
	// closed with 1008 as soon as they open. Default 16.
	MaxConnsPerUser int
	// TypingBurst and TypingInterval rate-limit the typing frames of one
	// connection: a burst of TypingBurst, then one per TypingInterval; the
	// rest are dropped. Defaults 5 and 1 s.
	TypingBurst    int
	TypingInterval time.Duration
	// PublishTimeout bounds each handoff to the Broker. Default 2 s.
	PublishTimeout time.Duration
	// MembershipTimeout bounds each Membership lookup. Default 5 s.
	MembershipTimeout time.Duration
	// ShutdownBatch connections are closed at a time by Close, every
	// ShutdownPause, so clients do not all reconnect at once. Close shortens
	// the pause to finish within half of its ctx's deadline. Defaults 250
	// and 100 ms.
	ShutdownBatch int
	ShutdownPause time.Duration
	// Presence records which users have connections on any instance; the
	// Hub reports its users' first and last connections to it and publishes
	// a presence event when a user comes online or goes offline. Nil
	// disables both.
	Presence Presence
	// PresenceInterval is how often the Hub refreshes its users' presence
	// records and reaps those of instances that died; keep it well under
	// the records' lifetime (RedisPresence: 30 s). Default 10 s.
	PresenceInterval time.Duration
	// PresenceRate is the least time between two presence events about one
	// user from this instance; changes in between coalesce into one event
	// with the latest state. Default 1 s.
	PresenceRate time.Duration
	// PresenceMaxMembers is the largest conversation whose members hear of
	// each other's presence changes: in a channel of n members coming
	// online together, every one would hear of every other, n² frames.
	// Members of bigger ones read presence from the member list. Counts
	// are cached for PresenceInterval. Default 100.
	PresenceMaxMembers int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.SendQueue, 256)
	def(&c.MaxConnsPerUser, 16)
	def(&c.TypingBurst, 5)
	def(&c.ShutdownBatch, 250)
	def(&c.PresenceMaxMembers, 100)
	defDur(&c.PingInterval, 25*time.Second)
	defDur(&c.PingTimeout, 15*time.Second)
	defDur(&c.WriteTimeout, 10*time.Second)
	defDur(&c.TypingInterval, time.Second)
	defDur(&c.PublishTimeout, 2*time.Second)
	defDur(&c.MembershipTimeout, 5*time.Second)
	defDur(&c.ShutdownPause, 100*time.Millisecond)
	defDur(&c.PresenceInterval, 10*time.Second)
	defDur(&c.PresenceRate, time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Hub serves this instance's WebSocket and Server-Sent Events connections.
// It publishes events through the Broker and delivers what the Broker
// brings, from every instance including this one, to the local connections
// whose users are in the audience. Delivery never blocks: a connection whose
// queue is full is closed. All methods are safe for concurrent use.
type Hub struct {
	cfg     Config
	log     *slog.Logger
	broker  Broker
	members Membership
	sub     Subscription

	ctx    context.Context // ends the Hub's own goroutines
	cancel context.CancelFunc
	wg     sync.WaitGroup // dispatch and reload loops
	reload chan struct{}  // asks the reload loop to refresh every membership
	connID atomic.Uint64

	mu       sync.RWMutex
	users    map[model.UserID]*userState
	byConv   map[model.ConversationID]map[model.UserID]*userState
	serving  int           // Serve calls past registration
	closing  bool          // Close has begun; Serve refuses new connections
	idle     chan struct{} // closed once closing and serving is 0
	closed   chan struct{} // closed when Close has finished
	closeErr error

	// presenceDirty holds the users whose first or last ready connection
	// here opened or closed since the presence loop last looked, with the
	// conversations of those who left (the audience of their presence
	// event). Guarded by mu.
	presenceDirty map[model.UserID][]model.ConversationID
	presenceWake  chan struct{}
	presenceStop  context.CancelFunc
	presenceDone  chan struct{} // closed when the presence loop has returned
}

// userState is what the Hub knows about one user with connections here.
type userState struct {
	id    model.UserID
	conns map[*conn]struct{}
	ready int // how many of conns are ready
	convs map[model.ConversationID]struct{}

	// While Membership lookups are in flight, membership events are logged
	// in ops so each lookup's result can be brought up to date.
	loads   int
	ops     []memberOp
	opsBase int // the number of ops discarded before ops[0]
}

type memberOp struct {
	conv model.ConversationID
	join bool
}

// NewHub subscribes to broker and starts delivering. It fails if the
// subscription cannot be made within ctx. The Hub owns broker from now on:
// Close closes it. It does not own cfg.Presence.
func NewHub(ctx context.Context, cfg Config, logger *slog.Logger, broker Broker, members Membership) (*Hub, error) {
	sub, err := broker.Subscribe(ctx, topicEvents)
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	hctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg:     cfg.withDefaults(),
		log:     logger,
		broker:  broker,
		members: members,
		sub:     sub,
		ctx:     hctx,
		cancel:  cancel,
		reload:  make(chan struct{}, 1),
		users:   make(map[model.UserID]*userState),
		byConv:  make(map[model.ConversationID]map[model.UserID]*userState),
		idle:    make(chan struct{}),
		closed:  make(chan struct{}),

		presenceDirty: make(map[model.UserID][]model.ConversationID),
		presenceWake:  make(chan struct{}, 1),
		presenceDone:  make(chan struct{}),
	}
	h.wg.Add(2)
	go h.dispatchLoop()
	go h.reloadLoop()
	pctx, stop := context.WithCancel(context.Background())
	h.presenceStop = stop
	if h.cfg.Presence == nil {
		close(h.presenceDone)
	} else {
		go h.presenceLoop(pctx)
	}
	return h, nil
}

// Publish hands ev to the Broker, marshaled once, for every instance to
// deliver to the connections in ev.To. Call it after the change ev announces
// has committed. Fan-out is best effort: Publish logs its own failures, and
// clients recover what they miss through seq gaps and resync.
func (h *Hub) Publish(ctx context.Context, ev model.Event) {
	if err := h.publish(ctx, ev); err != nil {
		h.log.ErrorContext(ctx, "publish event", "type", ev.Type, "conversation_id", ev.ConversationID, "err", err)
	}
}

func (h *Hub) publish(ctx context.Context, ev model.Event) error {
	payload, err := eventEnvelope(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.PublishTimeout)
	defer cancel()
	if kp, ok := h.broker.(keyedPublisher); ok {
		// Spread over shards, a conversation's events still keep their order.
		return kp.PublishKeyed(ctx, topicEvents, uint64(ev.ConversationID), payload)
	}
	return h.broker.Publish(ctx, topicEvents, payload)
}

// closeLoginEnded is the close code of a connection whose login ended
// (logout, or a reused refresh token revoked it); asyncapi.yaml documents
// it. Clients must not reconnect with the same credentials.
const closeLoginEnded websocket.StatusCode = 4001

// CloseSession closes user's connections opened with session, on every
// instance, with 4001 and reason (cut to 123 bytes): use it when one login
// ends (logout, refresh-token reuse) so the user's other devices stay
// connected. This instance's connections close at once, even if the Broker
// fails; failures are logged.
func (h *Hub) CloseSession(ctx context.Context, user model.UserID, session model.SessionID, reason string) {
	code := closeLoginEnded
	reason = truncateReason(reason)
	h.closeLocal(user, session, code, reason)
	payload, err := json.Marshal(envelope{Kind: kindClose, User: user, Session: session, Code: code, Reason: reason})
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, h.cfg.PublishTimeout)
		err = h.broker.Publish(ctx, topicEvents, payload)
		cancel()
	}
	if err != nil {
		h.log.ErrorContext(ctx, "publish close", "user_id", user, "err", err)
	}
}

func (h *Hub) closeLocal(user model.UserID, session model.SessionID, code websocket.StatusCode, reason string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if u := h.users[user]; u != nil {
		for c := range u.conns {
			if c.session == session {
				c.closeWith(code, reason)
			}
		}
	}
}

// dispatchLoop delivers what the Broker brings until the subscription ends.
func (h *Hub) dispatchLoop() {
	defer h.wg.Done()
	for m := range h.sub.Messages() {
		if m.Gap {
			h.resync()
			continue
		}
		env, err := decodeEnvelope(m.Payload)
		if err != nil {
			h.log.Warn("drop broker message", "err", err)
			continue
		}
		h.dispatch(env)
	}
}

func (h *Hub) dispatch(env envelope) {
	if env.Kind == kindClose {
		h.closeLocal(env.User, env.Session, env.Code, truncateReason(env.Reason))
		return
	}
	frame := []byte(env.Frame)
	switch env.Type {
	case model.EventConversationJoined: // membership first, so this frame and what follows arrive
		h.applyOp(env.User, memberOp{conv: env.Conv, join: true})
		h.deliver(env, frame)
	case model.EventConversationLeft: // this frame is the last about the conversation
		h.deliver(env, frame)
		h.applyOp(env.User, memberOp{conv: env.Conv, join: false})
	default:
		h.deliver(env, frame)
	}
}

// deliver queues frame for the ready connections in env's audience.
func (h *Hub) deliver(env envelope, frame []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if env.User != 0 {
		if u := h.users[env.User]; u != nil && u.id != env.Except {
			u.send(frame)
		}
		return
	}
	if len(env.Convs) == 1 {
		for _, u := range h.byConv[env.Convs[0]] {
			if u.id != env.Except {
				u.send(frame)
			}
		}
		return
	}
	seen := make(map[model.UserID]struct{})
	for _, conv := range env.Convs {
		for id, u := range h.byConv[conv] {
			if _, ok := seen[id]; ok || id == env.Except {
				continue
			}
			seen[id] = struct{}{}
			u.send(frame)
		}
	}
}

// send queues frame for u's ready connections. The caller holds h.mu.
func (u *userState) send(frame []byte) {
	for c := range u.conns {
		if c.ready {
			c.enqueue(frame)
		}
	}
}

var resyncFrame = model.Resync().Frame()

// resync tells every connection that events were lost, then has every
// membership reloaded, since conversation.joined and .left may be among them.
func (h *Hub) resync() {
	h.mu.RLock()
	n := 0
	for _, u := range h.users {
		u.send(resyncFrame)
		n += len(u.conns)
	}
	h.mu.RUnlock()
	h.log.Warn("events may have been lost, clients told to resync", "conns", n)
	select {
	case h.reload <- struct{}{}:
	default: // a reload is already due
	}
}

// reloadLoop refreshes every connected user's memberships when asked to.
// A user whose memberships turn out to have changed gets another resync.
func (h *Hub) reloadLoop() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.reload:
		}
		h.mu.Lock()
		type pending struct {
			u     *userState
			token int
		}
		all := make([]pending, 0, len(h.users))
		for _, u := range h.users {
			all = append(all, pending{u, u.beginLoad()})
		}
		h.mu.Unlock()
		failed := 0
		for _, p := range all {
			var convs []model.ConversationID
			err := h.ctx.Err()
			if err == nil {
				convs, err = h.loadMembership(h.ctx, p.u.id)
			}
			if err != nil {
				failed++
			}
			h.mu.Lock()
			if h.endLoad(p.u, p.token, convs, err == nil) {
				p.u.send(resyncFrame)
			}
			h.mu.Unlock()
		}
		if failed > 0 && h.ctx.Err() == nil {
			h.log.Error("reload memberships", "users", len(all), "failed", failed)
		}
	}
}

func (h *Hub) loadMembership(ctx context.Context, user model.UserID) ([]model.ConversationID, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.MembershipTimeout)
	defer cancel()
	return h.members.ConversationIDs(ctx, user)
}

// applyOp records a membership change of user, if connected here.
func (h *Hub) applyOp(user model.UserID, op memberOp) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.users[user]
	if u == nil {
		return
	}
	if u.loads > 0 {
		u.ops = append(u.ops, op)
	}
	h.applyLocked(u, op)
}

func (h *Hub) applyLocked(u *userState, op memberOp) {
	if op.join {
		u.convs[op.conv] = struct{}{}
		m := h.byConv[op.conv]
		if m == nil {
			m = make(map[model.UserID]*userState)
			h.byConv[op.conv] = m
		}
		m[u.id] = u
		return
	}
	delete(u.convs, op.conv)
	if m := h.byConv[op.conv]; m != nil {
		delete(m, u.id)
		if len(m) == 0 {
			delete(h.byConv, op.conv)
		}
	}
}

// beginLoad notes a Membership lookup starting and returns its token. The
// caller holds h.mu.
func (u *userState) beginLoad() int {
	u.loads++
	return u.opsBase + len(u.ops)
}

// endLoad installs a lookup's result, replaying the membership events seen
// since it began, and reports whether the memberships changed. The caller
// holds h.mu.
func (h *Hub) endLoad(u *userState, token int, convs []model.ConversationID, ok bool) bool {
	changed := false
	if ok && h.users[u.id] == u {
		want := make(map[model.ConversationID]struct{}, len(convs))
		for _, c := range convs {
			want[c] = struct{}{}
		}
		for _, op := range u.ops[token-u.opsBase:] {
			if op.join {
				want[op.conv] = struct{}{}
			} else {
				delete(want, op.conv)
			}
		}
		for c := range u.convs {
			if _, keep := want[c]; !keep {
				h.applyLocked(u, memberOp{conv: c, join: false})
				changed = true
			}
		}
		for c := range want {
			if _, have := u.convs[c]; !have {
				h.applyLocked(u, memberOp{conv: c, join: true})
				changed = true
			}
		}
	}
	u.loads--
	if u.loads == 0 {
		u.opsBase += len(u.ops)
		u.ops = nil
	}
	return changed
}

// refusal is why a new connection may not stay: the close code and reason
// it gets.
type refusal struct {
	code   websocket.StatusCode
	reason string
}

// open is the setup both transports share: it registers c and loads its
// user's memberships within ctx; c is then ready, with hello queued. If c
// may not stay, open reports why and c is not registered. If the
// memberships could not be loaded, it returns the error and c is still
// registered: the transport unwinds it, then unregisters c.
func (h *Hub) open(ctx context.Context, c *conn) (*refusal, error) {
	token, u, refused := h.register(c)
	if refused != nil {
		return refused, nil
	}
	convs, err := h.loadMembership(ctx, c.user)
	if !h.activate(u, c, token, convs, err) {
		return nil, fmt.Errorf("load memberships: %w", err)
	}
	return nil, nil
}

// register adds c, or reports why it may not stay.
func (h *Hub) register(c *conn) (token int, u *userState, refused *refusal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return 0, nil, &refusal{websocket.StatusServiceRestart, reasonRestart}
	}
	u = h.users[c.user]
	if u == nil {
		u = &userState{id: c.user, conns: make(map[*conn]struct{}), convs: make(map[model.ConversationID]struct{})}
		h.users[c.user] = u
	}
	if len(u.conns) >= h.cfg.MaxConnsPerUser {
		return 0, nil, &refusal{websocket.StatusPolicyViolation, reasonTooMany}
	}
	u.conns[c] = struct{}{}
	h.serving++
	return u.beginLoad(), u, nil
}

// activate completes c's registration with the result of its Membership
// lookup, which began with token. On success c is ready, with hello queued
// before any event; otherwise activate reports false and the caller closes
// c.
func (h *Hub) activate(u *userState, c *conn, token int, convs []model.ConversationID, err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endLoad(u, token, convs, err == nil)
	if err != nil {
		return false
	}
	c.ready = true
	c.enqueue(model.Hello(c.user).Frame())
	u.ready++
	if u.ready == 1 {
		h.presenceChanged(u, true)
	}
	return true
}

// unregister removes c, and its user when it was the last connection.
func (h *Hub) unregister(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if u := h.users[c.user]; u != nil {
		delete(u.conns, c)
		if c.ready {
			u.ready--
			if u.ready == 0 {
				h.presenceChanged(u, false)
			}
		}
		if len(u.conns) == 0 {
			for conv := range u.convs {
				h.applyLocked(u, memberOp{conv: conv, join: false})
			}
			delete(h.users, c.user)
		}
	}
	h.serving--
	if h.closing && h.serving == 0 {
		close(h.idle)
	}
}

// convList returns u's conversations. The caller holds h.mu.
func (u *userState) convList() []model.ConversationID {
	convs := make([]model.ConversationID, 0, len(u.convs))
	for c := range u.convs {
		convs = append(convs, c)
	}
	return convs
}

// Stats counts this instance's connections and their distinct users.
type Stats struct {
	Conns int
	Users int
}

// Stats reports the connections served now.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s := Stats{Users: len(h.users)}
	for _, u := range h.users {
		s.Conns += len(u.conns)
	}
	return s
}

// Close shuts the Hub down: it refuses new connections, closes the open
// ones with 1012 (service restart) in batches of Config.ShutdownBatch so
// their clients reconnect elsewhere without a thundering herd, waits for
// them within ctx, then ends the subscription and closes the Broker. Past
// ctx's deadline it drops the remaining connections and returns ctx's
// error. It is safe to call twice; a second call waits for the first.
//
// Close leaves this instance's presence records to expire rather than
// removing them, so users who reconnect to another instance within their
// lifetime are never seen offline; another instance's reaper announces
// those who do not come back.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		select {
		case <-h.closed:
			return h.closeErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.closing = true
	var conns []*conn
	for _, u := range h.users {
		for c := range u.conns {
			conns = append(conns, c)
		}
	}
	if h.serving == 0 {
		close(h.idle)
	}
	h.mu.Unlock()
	// Before any connection closes, so that none of them is recorded as
	// offline: see above.
	h.presenceStop()
	<-h.presenceDone

	err := h.closeConnsPaced(ctx, conns)
	if err == nil {
		select {
		case <-h.idle:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		// Out of time: drop whoever is left, even mid-handshake, and give
		// their Serve calls a moment to return.
		for _, c := range conns {
			c.abort()
		}
		grace := time.NewTimer(time.Second)
		select {
		case <-h.idle:
		case <-grace.C:
		}
		grace.Stop()
	}
	_ = h.sub.Close()
	h.cancel()
	h.wg.Wait()
	if cerr := h.broker.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close broker: %w", cerr)
	}
	h.closeErr = err
	close(h.closed)
	return err
}

func (h *Hub) closeConnsPaced(ctx context.Context, conns []*conn) error {
	batch := h.cfg.ShutdownBatch
	pause := h.cfg.ShutdownPause
	if batches := (len(conns) + batch - 1) / batch; batches > 1 {
		if deadline, ok := ctx.Deadline(); ok {
			pause = min(pause, time.Until(deadline)/2/time.Duration(batches-1))
		}
	}
	h.log.Info("closing websockets", "conns", len(conns), "batch", batch, "pause", pause)
	for i := 0; i < len(conns); i += batch {
		if i > 0 && !sleepCtx(ctx, pause) {
			return ctx.Err()
		}
		for _, c := range conns[i:min(i+batch, len(conns))] {
			c.closeWith(websocket.StatusServiceRestart, reasonRestart)
		}
	}
	return nil
}
