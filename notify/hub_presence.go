package notify

import (
	"context"
	"maps"
	"slices"
	"time"

	"parley/model"
)

// presenceChanged notes that u's first ready connection here opened
// (online) or its last one closed. For the latter it keeps u's
// conversations at that moment, the audience of the presence event. The
// caller holds h.mu. The presence loop brings Config.Presence up to date:
// no Presence call is made under h.mu or on a connection's path.
func (h *Hub) presenceChanged(u *userState, online bool) {
	if h.cfg.Presence == nil {
		return
	}
	var convs []model.ConversationID
	if !online {
		convs = u.convList()
	}
	h.presenceDirty[u.id] = convs
	select {
	case h.presenceWake <- struct{}{}:
	default: // the loop is already due to look
	}
}

// presenceState is the presence loop's own.
type presenceState struct {
	// recorded holds the users this instance has Joined and not Left.
	recorded map[model.UserID]struct{}
	// sent holds the last presence event this instance published about a
	// user, for PresenceRate after it.
	sent map[model.UserID]sentPresence
	// pending holds the users whose presence changed again within
	// PresenceRate of sent, and when an event may go out.
	pending   map[model.UserID]time.Time
	nextDue   time.Time // the earliest of pending; zero when none may be
	lastPrune time.Time
	// sizes caches conversations' member counts for the presence audience.
	sizes map[model.ConversationID]convSize
}

type convSize struct {
	members int
	at      time.Time
}

type sentPresence struct {
	at     time.Time
	online bool
}

// presenceLoop records this instance's users with Config.Presence and
// publishes their presence changes until ctx ends. It is the only caller
// of Config.Presence, so the records of one user change in the order the
// Hub saw them.
func (h *Hub) presenceLoop(ctx context.Context) {
	defer close(h.presenceDone)
	st := &presenceState{
		recorded: make(map[model.UserID]struct{}),
		sent:     make(map[model.UserID]sentPresence),
		pending:  make(map[model.UserID]time.Time),
		sizes:    make(map[model.ConversationID]convSize),
	}
	tick := time.NewTicker(h.cfg.PresenceInterval)
	defer tick.Stop()
	due := time.NewTimer(time.Hour)
	defer due.Stop()
	h.presenceHeartbeat(ctx, st)
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.presenceWake:
			h.presenceSync(ctx, st)
		case <-tick.C:
			h.presenceSync(ctx, st)
			h.presenceHeartbeat(ctx, st)
		case <-due.C:
		}
		h.presenceFlush(ctx, st)
		if !st.nextDue.IsZero() {
			due.Reset(max(0, st.nextDue.Sub(h.cfg.Now())))
		}
	}
}

// presenceOp runs one Presence call within PresenceInterval.
func (h *Hub) presenceOp(ctx context.Context, op func(context.Context, []model.UserID) ([]model.UserID, error), users []model.UserID) ([]model.UserID, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.PresenceInterval)
	defer cancel()
	return op(ctx, users)
}

// presenceSync records the users whose first connection opened or last one
// closed since the last look, and announces those whose presence changed.
func (h *Hub) presenceSync(ctx context.Context, st *presenceState) {
	h.mu.Lock()
	if len(h.presenceDirty) == 0 {
		h.mu.Unlock()
		return
	}
	dirty := h.presenceDirty
	h.presenceDirty = make(map[model.UserID][]model.ConversationID)
	var joins, leaves []model.UserID
	for user := range dirty {
		u := h.users[user]
		want := u != nil && u.ready > 0
		_, have := st.recorded[user]
		switch {
		case want && !have:
			joins = append(joins, user)
		case !want && have:
			leaves = append(leaves, user)
		}
	}
	h.mu.Unlock()

	p := h.cfg.Presence
	if len(joins) > 0 {
		came, err := h.presenceOp(ctx, p.Join, joins)
		if err != nil {
			h.presenceFailed(ctx, "presence join", joins, dirty, err)
		} else {
			for _, u := range joins {
				st.recorded[u] = struct{}{}
			}
			for _, u := range came {
				h.announce(ctx, st, u, true, nil)
			}
		}
	}
	if len(leaves) > 0 {
		gone, err := h.presenceOp(ctx, p.Leave, leaves)
		if err != nil {
			h.presenceFailed(ctx, "presence leave", leaves, dirty, err)
		} else {
			for _, u := range leaves {
				delete(st.recorded, u)
			}
			for _, u := range gone {
				h.announce(ctx, st, u, false, dirty[u])
			}
		}
	}
}

// presenceFailed logs a failed Join or Leave and has users looked at again
// at the next heartbeat.
func (h *Hub) presenceFailed(ctx context.Context, what string, users []model.UserID, dirty map[model.UserID][]model.ConversationID, err error) {
	if ctx.Err() != nil {
		return // shutting down
	}
	h.log.Error(what, "users", len(users), "err", err)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, u := range users {
		if _, newer := h.presenceDirty[u]; !newer {
			h.presenceDirty[u] = dirty[u]
		}
	}
}

// presenceHeartbeat refreshes this instance's records, announcing users
// whose records had been lost (Redis restarted, or this instance was
// thought dead), then reaps dead instances and announces their users who
// are now offline.
func (h *Hub) presenceHeartbeat(ctx context.Context, st *presenceState) {
	p := h.cfg.Presence
	came, err := h.presenceOp(ctx, p.Join, slices.Collect(maps.Keys(st.recorded)))
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("presence refresh", "users", len(st.recorded), "err", err)
		}
		return
	}
	for _, u := range came {
		h.announce(ctx, st, u, true, nil)
	}
	gone, err := h.presenceOp(ctx, func(ctx context.Context, _ []model.UserID) ([]model.UserID, error) {
		return p.Reap(ctx)
	}, nil)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("presence reap", "err", err)
		}
		return
	}
	if len(gone) > 0 {
		h.log.Info("presence reaped users of dead instances", "users", len(gone))
	}
	for _, u := range gone {
		h.announce(ctx, st, u, false, nil)
	}
}

// announce publishes that user came online or went offline, unless an
// event about user went out less than PresenceRate ago: then the change
// waits, and presenceFlush publishes the state user is in by then, if it
// differs from the one last published.
func (h *Hub) announce(ctx context.Context, st *presenceState, user model.UserID, online bool, convs []model.ConversationID) {
	now := h.cfg.Now()
	if last, ok := st.sent[user]; ok && now.Sub(last.at) < h.cfg.PresenceRate {
		if _, held := st.pending[user]; !held {
			at := last.at.Add(h.cfg.PresenceRate)
			st.pending[user] = at
			if st.nextDue.IsZero() || at.Before(st.nextDue) {
				st.nextDue = at
			}
		}
		return
	}
	delete(st.pending, user)
	st.sent[user] = sentPresence{at: now, online: online}
	h.publishPresence(ctx, st, user, online, convs)
}

// presenceFlush publishes the changes held back whose time has come, and
// forgets what no longer limits the rate.
func (h *Hub) presenceFlush(ctx context.Context, st *presenceState) {
	now := h.cfg.Now()
	if !st.nextDue.IsZero() && !now.Before(st.nextDue) {
		var due []model.UserID
		st.nextDue = time.Time{}
		for u, at := range st.pending {
			switch {
			case !now.Before(at):
				due = append(due, u)
			case st.nextDue.IsZero() || at.Before(st.nextDue):
				st.nextDue = at
			}
		}
		if len(due) > 0 {
			h.flushDue(ctx, st, now, due)
		}
	}
	if now.Sub(st.lastPrune) >= h.cfg.PresenceRate {
		for u, s := range st.sent {
			if _, held := st.pending[u]; !held && now.Sub(s.at) >= h.cfg.PresenceRate {
				delete(st.sent, u)
			}
		}
		for c, s := range st.sizes {
			if now.Sub(s.at) >= h.cfg.PresenceInterval {
				delete(st.sizes, c)
			}
		}
		st.lastPrune = now
	}
}

// flushDue publishes the current state of the due users whose state
// differs from the one last published about them.
func (h *Hub) flushDue(ctx context.Context, st *presenceState, now time.Time, due []model.UserID) {
	ctx2, cancel := context.WithTimeout(ctx, h.cfg.PresenceInterval)
	state, err := h.cfg.Presence.Online(ctx2, due)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("presence online", "users", len(due), "err", err)
		}
		retry := now.Add(h.cfg.PresenceRate) // and again, until Presence answers
		for _, u := range due {
			st.pending[u] = retry
		}
		if st.nextDue.IsZero() || retry.Before(st.nextDue) {
			st.nextDue = retry
		}
		return
	}
	for _, u := range due {
		delete(st.pending, u)
		if st.sent[u].online != state[u] {
			st.sent[u] = sentPresence{at: now, online: state[u]}
			h.publishPresence(ctx, st, u, state[u], nil)
		}
	}
}

// publishPresence tells the members of user's conversations (convs, or if
// nil the ones this Hub knows or Membership says) of at most
// PresenceMaxMembers that user came online or went offline. Users who
// share no such conversation with user hear nothing.
func (h *Hub) publishPresence(ctx context.Context, st *presenceState, user model.UserID, online bool, convs []model.ConversationID) {
	if convs == nil {
		h.mu.RLock()
		if u := h.users[user]; u != nil && u.ready > 0 {
			convs = u.convList()
		}
		h.mu.RUnlock()
	}
	if convs == nil {
		var err error
		if convs, err = h.loadMembership(ctx, user); err != nil {
			if ctx.Err() == nil {
				h.log.Error("presence audience", "user_id", user, "err", err)
			}
			return
		}
	}
	convs = h.smallConversations(ctx, st, convs)
	if len(convs) == 0 {
		return
	}
	h.Publish(ctx, model.Presence(user, online, convs))
}

// smallConversations returns those of convs with at most
// PresenceMaxMembers members, counting those not in st.sizes. If counting
// fails it logs why, and leaves the uncounted ones out.
func (h *Hub) smallConversations(ctx context.Context, st *presenceState, convs []model.ConversationID) []model.ConversationID {
	now := h.cfg.Now()
	var uncounted []model.ConversationID
	for _, c := range convs {
		if s, ok := st.sizes[c]; !ok || now.Sub(s.at) >= h.cfg.PresenceInterval {
			uncounted = append(uncounted, c)
		}
	}
	if len(uncounted) > 0 {
		cctx, cancel := context.WithTimeout(ctx, h.cfg.MembershipTimeout)
		counts, err := h.members.MemberCounts(cctx, uncounted)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			h.log.Error("presence audience", "conversations", len(uncounted), "err", err)
		case err == nil:
			for _, c := range uncounted {
				st.sizes[c] = convSize{members: counts[c], at: now}
			}
		}
	}
	small := make([]model.ConversationID, 0, len(convs))
	for _, c := range convs {
		if s, ok := st.sizes[c]; ok && s.members <= h.cfg.PresenceMaxMembers {
			small = append(small, c)
		}
	}
	return small
}
