package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"parley/model"
)

// UpdateType says what an Update reports.
type UpdateType int

// The kinds of Update.
const (
	// Synced: the subscription is connected, and every change up to the
	// moment it connected has been delivered. Comes after every (re)connect.
	Synced UpdateType = iota + 1
	// Disconnected: the connection dropped or could not be opened; Err says
	// why. The subscription reconnects by itself, with backoff.
	Disconnected
	// MessageChanged: Message was posted, edited or deleted (Change says
	// which) and is shown as it is now. EventSeq is the change's place in
	// its conversation: the updates of one conversation come with rising
	// EventSeq, each once.
	MessageChanged
	// Joined: Conversation is one of the user's conversations that this
	// subscription did not know: every conversation on the first sync, then
	// each one joined. Load its history with Client.History if needed;
	// MessageChanged updates for it follow from Conversation.LastEventSeq
	// (or from the cursor given to Subscribe).
	Joined
	// Left: the user is no longer a member of ConversationID; nothing more
	// about it follows.
	Left
	// ReadMoved: the user's read marker in ConversationID moved to Seq, on
	// this device or another.
	ReadMoved
	// Other: Event is a frame that needs no fetching: typing, presence,
	// member.joined or member.left.
	Other
)

// Update is one thing a Subscription reports. Which fields are set depends
// on Type.
type Update struct {
	Type           UpdateType
	ConversationID model.ConversationID
	EventSeq       int64           // MessageChanged
	Change         model.EventType // MessageChanged: message.created, .updated or .deleted
	Message        Message         // MessageChanged
	Conversation   Conversation    // Joined
	Seq            int64           // ReadMoved
	Event          Event           // Other
	Err            error           // Disconnected
}

// Cursors says, per conversation, the event_seq of the last change a client
// holds, so that a Subscription resumes after it.
type Cursors map[model.ConversationID]int64

// Subscription follows the event channel and runs the sync protocol of
// asyncapi.yaml: on every (re)connect it pages the caller's conversations
// and, for each whose last_event_seq is past what it delivered, pages the
// changes feed and fetches the changed messages; between syncs it applies
// live events, paging the feed when an event_seq skips one. So each change
// is delivered exactly once, in order per conversation, however often the
// connection drops.
type Subscription struct {
	c       *Client
	updates chan Update
	cancel  context.CancelFunc
	done    chan struct{}
	err     error

	// Owned by the run goroutine.
	from   Cursors // cursors given to Subscribe, used when a conversation is first seen
	cursor Cursors // the last event_seq delivered, per conversation known
	read   map[model.ConversationID]int64
}

// Backoff between reconnects: doubling from minBackoff to maxBackoff, each
// wait drawn at random from its upper half so that clients that lost the
// same server do not come back at once.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 15 * time.Second
)

// Subscribe starts following the user's conversations until ctx ends or
// Close is called. from may resume conversations after the event_seqs a
// client holds; the others start at their latest change. Read Updates
// promptly: while it is not read, nothing is received, and a server whose
// send queue fills drops the connection (the next sync then catches up).
func (c *Client) Subscribe(ctx context.Context, from Cursors) *Subscription {
	ctx, cancel := context.WithCancel(ctx)
	s := &Subscription{
		c: c, updates: make(chan Update, 64), cancel: cancel, done: make(chan struct{}),
		from: Cursors{}, cursor: Cursors{}, read: map[model.ConversationID]int64{},
	}
	for id, seq := range from {
		s.from[id] = seq
	}
	go s.run(ctx)
	return s
}

// Updates delivers the updates. It is closed when the subscription ends;
// Err then says why.
func (s *Subscription) Updates() <-chan Update { return s.updates }

// Err is nil while the subscription runs and after Close or the end of its
// context, and ErrLoggedOut when it ended because the login did.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close stops the subscription and waits until it has.
func (s *Subscription) Close() {
	s.cancel()
	for range s.updates { // drain, so that run is not blocked sending
	}
	<-s.done
}

func (s *Subscription) run(ctx context.Context) {
	// done closes before updates, so a reader that sees updates closed
	// finds Err already set.
	defer close(s.updates)
	defer close(s.done)
	backoff := minBackoff
	for {
		synced, err := s.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrLoggedOut) {
			s.err = err
			return
		}
		if synced {
			backoff = minBackoff
		}
		if !s.emit(ctx, Update{Type: Disconnected, Err: err}) {
			return
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, maxBackoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// emit delivers u unless ctx ends first.
func (s *Subscription) emit(ctx context.Context, u Update) bool {
	select {
	case s.updates <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

// errStopped ends a session because the subscription's context ended.
var errStopped = errors.New("subscription stopped")

func (s *Subscription) send(ctx context.Context, u Update) error {
	if !s.emit(ctx, u) {
		return errStopped
	}
	return nil
}

// session runs one connection until it ends, and reports whether it got
// as far as a sync.
func (s *Subscription) session(ctx context.Context) (synced bool, err error) {
	conn, err := s.c.Dial(ctx)
	if err != nil {
		return false, err
	}
	defer conn.closeNow()
	var wg sync.WaitGroup
	pctx, stop := context.WithCancel(ctx)
	defer wg.Wait()
	defer stop()
	wg.Go(func() { keepAlive(pctx, conn) })

	for {
		ev, err := conn.Next(ctx)
		if err != nil {
			return synced, err
		}
		switch ev.Type {
		case model.EventHello, model.EventResync:
			err = s.sync(ctx)
			if err == nil {
				synced = true
				err = s.send(ctx, Update{Type: Synced})
			}
		case model.EventMessageCreated, model.EventMessageUpdated, model.EventMessageDeleted:
			err = s.onMessageEvent(ctx, ev)
		case model.EventConversationJoined:
			err = s.onJoined(ctx, ev.ConversationID)
		case model.EventConversationLeft:
			err = s.drop(ctx, ev.ConversationID)
		case model.EventReadUpdated:
			err = s.moveRead(ctx, ev.ConversationID, ev.Seq)
		default:
			err = s.send(ctx, Update{Type: Other, ConversationID: ev.ConversationID, Event: ev})
		}
		if err != nil {
			return synced, err
		}
	}
}

// keepAlive pings the server every pingEvery and drops the connection when
// an answer does not come in time, so that a dead socket (a network that
// vanished without a word) is noticed.
func keepAlive(ctx context.Context, conn *EventConn) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			conn.closeNow()
			return
		}
	}
}

// sync brings the subscription level with the server: conversations new
// and gone, read markers, and every change past the cursors.
func (s *Subscription) sync(ctx context.Context) error {
	convs, err := s.c.AllConversations(ctx)
	if err != nil {
		return err
	}
	present := make(map[model.ConversationID]bool, len(convs))
	for _, conv := range convs {
		present[conv.ID] = true
		if err := s.adopt(ctx, conv); err != nil {
			return err
		}
		if err := s.moveRead(ctx, conv.ID, conv.ReadSeq); err != nil {
			return err
		}
		if conv.LastEventSeq > s.cursor[conv.ID] {
			if err := s.catchUp(ctx, conv.ID); err != nil {
				return err
			}
		}
	}
	for id := range s.cursor {
		if !present[id] {
			if err := s.drop(ctx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// adopt starts following conv if it is new to the subscription.
func (s *Subscription) adopt(ctx context.Context, conv Conversation) error {
	if _, known := s.cursor[conv.ID]; known {
		return nil
	}
	cur, ok := s.from[conv.ID]
	if ok {
		delete(s.from, conv.ID)
	} else {
		cur = conv.LastEventSeq
	}
	s.cursor[conv.ID] = cur
	s.read[conv.ID] = conv.ReadSeq
	return s.send(ctx, Update{Type: Joined, ConversationID: conv.ID, Conversation: conv})
}

func (s *Subscription) onJoined(ctx context.Context, id model.ConversationID) error {
	if _, known := s.cursor[id]; known {
		return nil
	}
	conv, err := s.c.Conversation(ctx, id)
	if Code(err) == model.ENotFound {
		return nil // left again already; the conversation.left frame follows
	}
	if err != nil {
		return err
	}
	return s.adopt(ctx, conv)
}

func (s *Subscription) drop(ctx context.Context, id model.ConversationID) error {
	if _, known := s.cursor[id]; !known {
		return nil
	}
	delete(s.cursor, id)
	delete(s.read, id)
	return s.send(ctx, Update{Type: Left, ConversationID: id})
}

func (s *Subscription) moveRead(ctx context.Context, id model.ConversationID, seq int64) error {
	old, known := s.read[id]
	if !known || seq <= old {
		return nil
	}
	s.read[id] = seq
	return s.send(ctx, Update{Type: ReadMoved, ConversationID: id, Seq: seq})
}

// onMessageEvent applies a live change: the next one is fetched and
// delivered, one already delivered is ignored, and one past a gap pages
// the changes feed from the cursor.
func (s *Subscription) onMessageEvent(ctx context.Context, ev Event) error {
	cur, known := s.cursor[ev.ConversationID]
	if !known || ev.EventSeq <= cur {
		return nil
	}
	if ev.EventSeq > cur+1 {
		return s.catchUp(ctx, ev.ConversationID)
	}
	m, err := s.c.Message(ctx, ev.MessageID)
	if Code(err) == model.ENotFound {
		return s.drop(ctx, ev.ConversationID) // we may no longer read it: we left
	}
	if err != nil {
		return err
	}
	s.cursor[ev.ConversationID] = ev.EventSeq
	return s.send(ctx, Update{Type: MessageChanged, ConversationID: ev.ConversationID,
		EventSeq: ev.EventSeq, Change: ev.Type, Message: m})
}

// changesPage is how many changes one request of catchUp asks for.
const changesPage = 1000

// catchUp pages conversation id's changes after the cursor and delivers
// each with its message as it is now.
func (s *Subscription) catchUp(ctx context.Context, id model.ConversationID) error {
	for {
		page, err := s.c.Changes(ctx, id, s.cursor[id], changesPage)
		if Code(err) == model.ENotFound {
			return s.drop(ctx, id)
		}
		if err != nil {
			return err
		}
		for chunk := range slices.Chunk(page.Items, model.MaxBatchIDs) {
			ids := make([]model.MessageID, len(chunk))
			for i, ch := range chunk {
				ids[i] = ch.MessageID
			}
			msgs, err := s.c.Messages(ctx, ids)
			if err != nil {
				return err
			}
			byID := make(map[model.MessageID]Message, len(msgs))
			for _, m := range msgs {
				byID[m.ID] = m
			}
			for _, ch := range chunk {
				s.cursor[id] = ch.EventSeq
				m, ok := byID[ch.MessageID]
				if !ok {
					continue // no longer readable: the membership ended meanwhile
				}
				err := s.send(ctx, Update{Type: MessageChanged, ConversationID: id,
					EventSeq: ch.EventSeq, Change: ch.Type, Message: m})
				if err != nil {
					return err
				}
			}
		}
		if !page.HasMore || len(page.Items) == 0 {
			return nil
		}
	}
}
