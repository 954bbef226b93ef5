package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lib/pq"

	"parley/model"
)

// Group commit. Posting one message is one statement and one commit
// (createMessageSQL), and the UPDATE in it holds the conversation's row lock
// until that commit: posts to one conversation wait for each other's
// commits, and every post pays a commit of its own. So concurrent posts are
// gathered: a post that finds no batch being stored goes at once, alone;
// posts that arrive while a batch is being stored queue, and when it has
// committed they go together as the next batch, in one statement
// (createMessagesSQL) and one commit. At low load nothing waits; under load
// a batch forms while the one before commits. One batch of the instance is
// in flight at a time, which also gives the order in which events are
// announced.
//
// Each message keeps every guarantee it had alone. createMessagesSQL checks
// membership per message, returns the original for a client_msg_id already
// stored, and numbers the new messages of each conversation from its
// last_seq and last_event_seq in the order they were queued, under the
// conversation's row lock (taken in id order, so two instances' batches
// cannot deadlock); the commit makes them visible together, so seq and
// event_seq stay gapless and in commit order. Retries of one client_msg_id inside a batch are stored once (the
// first; the others get it as a retry). If the statement fails as a whole
// (say a retry raced its original on another instance into a unique
// violation, or a sender was deleted meanwhile), each message of the batch
// is stored alone instead, so only a bad one fails.

// createMessagesSQL stores a batch: $1…$4 are the conversation, sender,
// body and client_msg_id (empty for none) of each message, in queue order;
// $5 is created_at. It does for each new message what createMessageSQL
// does for one: the next seq and event_seq of its conversation, an id (its
// change id) drawn under the conversation's row lock and rising with them,
// last_change_id and last_message_at, and the sender's read marker. It
// returns one row per message stored or found: ord (the message's 1-based
// place in the arrays), created (false for a retry of a stored
// client_msg_id) and the message's columns. A message with no row was not
// sent by a member (a retry from one who has left included, as alone).
const createMessagesSQL = `WITH input AS (
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) WITH ORDINALITY AS i (conversation_id, sender_id, body, client_msg_id, ord)
), known AS (
	SELECT i.ord, m.id, m.seq, m.event_seq, m.body, m.created_at, m.edited_at, m.deleted_at
	FROM input i JOIN members mb ON mb.conversation_id = i.conversation_id AND mb.user_id = i.sender_id
	JOIN messages m ON m.conversation_id = i.conversation_id AND m.sender_id = i.sender_id AND m.client_msg_id = i.client_msg_id
), fresh AS (
	SELECT i.*, row_number() OVER (PARTITION BY i.conversation_id ORDER BY i.ord) AS n
	FROM input i JOIN members mb ON mb.conversation_id = i.conversation_id AND mb.user_id = i.sender_id
	WHERE NOT EXISTS (SELECT 1 FROM known k WHERE k.ord = i.ord)
), counts AS (
	SELECT conversation_id, count(*) AS k FROM fresh GROUP BY conversation_id
), locked AS (
	SELECT id FROM conversations WHERE id IN (SELECT conversation_id FROM counts) ORDER BY id FOR UPDATE
), ids AS (
	SELECT conversation_id, id, row_number() OVER (PARTITION BY conversation_id ORDER BY id) AS n
	FROM (SELECT f.conversation_id, nextval('messages_id_seq') AS id FROM fresh f JOIN locked l ON l.id = f.conversation_id) drawn
), bump AS (
	UPDATE conversations c SET last_seq = c.last_seq + counts.k, last_event_seq = c.last_event_seq + counts.k,
		last_change_id = (SELECT max(ids.id) FROM ids WHERE ids.conversation_id = c.id), last_message_at = $5
	FROM counts JOIN locked l ON l.id = counts.conversation_id
	WHERE c.id = counts.conversation_id
	RETURNING c.id, c.last_seq - counts.k AS seq_base, c.last_event_seq - counts.k AS event_base
), mark AS (
	UPDATE members m SET last_read_seq = greatest(m.last_read_seq, last.seq)
	FROM (SELECT f.conversation_id, f.sender_id, max(b.seq_base + f.n) AS seq FROM fresh f JOIN bump b ON b.id = f.conversation_id GROUP BY 1, 2) last
	WHERE m.conversation_id = last.conversation_id AND m.user_id = last.sender_id
), ins AS (
	INSERT INTO messages (id, conversation_id, seq, event_seq, change_id, sender_id, body, client_msg_id, created_at)
	OVERRIDING SYSTEM VALUE
	SELECT ids.id, f.conversation_id, b.seq_base + f.n, b.event_base + f.n, ids.id, f.sender_id, f.body, nullif(f.client_msg_id, ''), $5
	FROM fresh f JOIN bump b ON b.id = f.conversation_id JOIN ids ON ids.conversation_id = f.conversation_id AND ids.n = f.n
	RETURNING id, conversation_id, seq, event_seq, created_at
)
SELECT f.ord, true AS created, ins.id, ins.seq, ins.event_seq, f.body, ins.created_at, NULL::timestamptz AS edited_at, NULL::timestamptz AS deleted_at
FROM ins JOIN bump b ON b.id = ins.conversation_id JOIN fresh f ON f.conversation_id = ins.conversation_id AND f.n = ins.seq - b.seq_base
UNION ALL
SELECT ord, false, id, seq, event_seq, body, created_at, edited_at, deleted_at FROM known`

// Defaults of Store.PostBatchSize and Store.PostBatchWait.
const (
	DefaultPostBatchSize = 64
	DefaultPostBatchWait = 500 * time.Microsecond
)

// post is one queued CreateMessage call.
type post struct {
	m        *model.Message
	announce func(model.Message) // nil for none
	created  bool
	err      error
	done     chan struct{} // closed when created and err are set
}

// postQueue gathers posts into batches.
type postQueue struct {
	mu      sync.Mutex
	waiting []*post
	busy    bool          // a leader is storing a batch, or about to
	last    int           // the size of the batch taken last
	target  int           // the size a batch waits for; 0 when none waits
	full    chan struct{} // signaled when waiting reaches target
	// announced is closed once the last batch taken has announced its
	// messages; the next batch announces after it.
	announced chan struct{}
}

// postMessage queues p and returns once it is done. A call that finds no
// batch being stored leads: it stores the next batch (its own post among
// them) and, if more posts have queued meanwhile, starts a new leader for
// them before it announces its batch.
func (s *Store) postMessage(p *post) {
	q := &s.posts
	q.mu.Lock()
	q.waiting = append(q.waiting, p)
	if len(q.waiting) == q.target {
		select {
		case q.full <- struct{}{}:
		default:
		}
	}
	lead := !q.busy
	q.busy = true
	q.mu.Unlock()
	if lead {
		s.lead(true)
	}
	<-p.done
}

func (s *Store) postBatchSize() int {
	return max(s.PostBatchSize, 1)
}

// lead stores one batch, hands the lead on if posts are waiting, then
// announces the batch after the one before it. idle says the queue was
// idle, so the batch goes without waiting for more.
func (s *Store) lead(idle bool) {
	q := &s.posts
	if !idle && s.PostBatchWait > 0 {
		s.awaitFill()
	}
	q.mu.Lock()
	n := min(len(q.waiting), s.postBatchSize())
	q.last, q.target = n, 0
	batch := make([]*post, n)
	copy(batch, q.waiting)
	rest := copy(q.waiting, q.waiting[n:])
	clear(q.waiting[rest:])
	q.waiting = q.waiting[:rest]
	prev := q.announced
	announced := make(chan struct{})
	q.announced = announced
	q.mu.Unlock()

	s.storeBatch(batch)

	// The next batch is stored while this one is announced.
	q.mu.Lock()
	more := len(q.waiting) > 0
	q.busy = more
	q.mu.Unlock()
	if more {
		go s.lead(false)
	}
	<-prev
	for _, p := range batch {
		if p.created && p.announce != nil {
			p.announce(*p.m)
		}
		close(p.done)
	}
	close(announced)
}

// awaitFill waits, for at most PostBatchWait, until as many posts are
// queued as the batch before took (at most PostBatchSize): under a steady
// load the posters of that batch are about to post again. After a batch of
// one nothing waits, so a moderate load gets no added latency.
func (s *Store) awaitFill() {
	q := &s.posts
	q.mu.Lock()
	target := min(q.last, s.postBatchSize())
	if len(q.waiting) >= target {
		q.mu.Unlock()
		return
	}
	q.target = target
	select {
	case <-q.full: // a signal for a wait that timed out
	default:
	}
	q.mu.Unlock()
	t := time.NewTimer(s.PostBatchWait)
	defer t.Stop()
	select {
	case <-q.full:
	case <-t.C:
	}
}

// storeBatch stores batch and sets each post's result (not done).
func (s *Store) storeBatch(batch []*post) {
	// Retries of one client_msg_id within the batch: the first is stored,
	// the others copy its result.
	type key struct {
		conv   model.ConversationID
		sender model.UserID
		id     string
	}
	var firsts map[key]*post
	var copies map[*post]*post // a retry → its first
	unique := batch
	if len(batch) > 1 {
		unique = make([]*post, 0, len(batch))
		for _, p := range batch {
			if p.m.ClientMsgID == "" {
				unique = append(unique, p)
				continue
			}
			k := key{p.m.ConversationID, p.m.SenderID, p.m.ClientMsgID}
			if f, ok := firsts[k]; ok {
				if copies == nil {
					copies = map[*post]*post{}
				}
				copies[p] = f
				continue
			}
			if firsts == nil {
				firsts = map[key]*post{}
			}
			firsts[k] = p
			unique = append(unique, p)
		}
	}

	if s.OnMessageCreated != nil {
		s.storeBatchHooked(unique)
	} else if len(unique) == 1 {
		p := unique[0]
		p.created, p.err = s.createMessage(s.createMessageStmt.Stmt, p.m)
	} else if err := s.createMessages(s.createMessagesStmt.Stmt, unique); err != nil {
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) {
			// The connection failed: the batch may or may not have been
			// committed, so storing the messages again could store twice.
			for _, p := range unique {
				p.err = err
			}
		} else {
			// PostgreSQL rejected the statement, and so stored none of it.
			for _, p := range unique {
				p.created, p.err = s.createMessage(s.createMessageStmt.Stmt, p.m)
			}
		}
	}

	for p, f := range copies {
		if f.err != nil {
			p.err = f.err
			continue
		}
		*p.m = *f.m
	}
}

// storeBatchHooked stores unique as storeBatch does, in one transaction
// that also runs s.OnMessageCreated for the messages created, so that what
// it writes (the push task) commits with them or not at all. A batch adds
// only a BEGIN and a COMMIT to its statement and the hook's, whatever its
// size.
func (s *Store) storeBatchHooked(unique []*post) {
	ctx := context.Background()
	fail := func(err error) {
		for _, p := range unique {
			p.created, p.err = false, err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("create message: %w", err))
		return
	}
	defer func() { _ = tx.Rollback() }()
	if len(unique) == 1 {
		stmt := tx.StmtContext(ctx, s.createMessageStmt.Stmt) // the connection's prepared statement
		defer stmt.Close()
		p := unique[0]
		if p.created, p.err = s.createMessage(stmt, p.m); p.err != nil || !p.created {
			return // nothing to commit: a failure, or a retry found stored
		}
	} else {
		stmt := tx.StmtContext(ctx, s.createMessagesStmt.Stmt)
		defer stmt.Close()
		if err := s.createMessages(stmt, unique); err != nil {
			var pqErr *pq.Error
			if !errors.As(err, &pqErr) {
				fail(err)
				return
			}
			// Rejected as a whole, so nothing stored: each alone.
			_ = tx.Rollback()
			for _, p := range unique {
				s.storeBatchHooked([]*post{p})
			}
			return
		}
	}
	var created []model.Message
	for _, p := range unique {
		if p.created && p.err == nil {
			created = append(created, *p.m)
		}
	}
	if len(created) > 0 {
		if err := s.OnMessageCreated(ctx, tx, created); err != nil {
			fail(fmt.Errorf("create message: after: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("create message: commit: %w", err))
	}
}

// createMessage stores m alone with createMessageSQL, prepared as stmt.
func (s *Store) createMessage(stmt *sql.Stmt, m *model.Message) (created bool, err error) {
	ctx := context.Background()
	var id, seq, eventSeq int64
	var createdAt time.Time
	err = stmt.QueryRowContext(ctx,
		m.ConversationID, m.SenderID, m.Body, nullString(m.ClientMsgID), s.now()).Scan(&id, &seq, &eventSeq, &createdAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, errConversationNotFound
	case isUniqueViolation(err, "messages_client_msg_id_key"):
		// A retry: the statement rolled back, bump and all.
		return false, s.getMessageByClientID(ctx, m)
	case err != nil:
		return false, fmt.Errorf("create message: %w", translate(err))
	}
	m.ID, m.Seq, m.EventSeq, m.CreatedAt = model.MessageID(id), seq, eventSeq, createdAt.UTC()
	m.EditedAt, m.DeletedAt = nil, nil
	return true, nil
}

// getMessageByClientID fills m with the message m.SenderID already stored
// in m.ConversationID with m.ClientMsgID.
func (s *Store) getMessageByClientID(ctx context.Context, m *model.Message) error {
	var row messageRow
	err := s.db.GetContext(ctx, &row, selectMessageByClientIDSQL, m.ConversationID, m.SenderID, m.ClientMsgID)
	if err != nil {
		return fmt.Errorf("create message: get original: %w", translate(err))
	}
	*m = row.toModel()
	return nil
}

// createMessages stores batch with createMessagesSQL, prepared as stmt,
// and sets each post's result. It returns an error only if the statement
// failed as a whole.
func (s *Store) createMessages(stmt *sql.Stmt, batch []*post) error {
	n := len(batch)
	convs, senders := make([]int64, n), make([]int64, n)
	bodies, clientIDs := make([]string, n), make([]string, n)
	for i, p := range batch {
		convs[i], senders[i] = int64(p.m.ConversationID), int64(p.m.SenderID)
		bodies[i], clientIDs[i] = p.m.Body, p.m.ClientMsgID
	}
	rows, err := stmt.QueryContext(context.Background(),
		pq.Array(convs), pq.Array(senders), pq.Array(bodies), pq.Array(clientIDs), s.now())
	if err != nil {
		return fmt.Errorf("create messages: %w", err)
	}
	defer rows.Close()
	found := make([]bool, n)
	type result struct {
		ord                 int
		created             bool
		id, seq, eventSeq   int64
		body                string
		createdAt           time.Time
		editedAt, deletedAt sql.NullTime
	}
	results := make([]result, 0, n)
	for rows.Next() {
		var r result
		if err := rows.Scan(&r.ord, &r.created, &r.id, &r.seq, &r.eventSeq, &r.body, &r.createdAt, &r.editedAt, &r.deletedAt); err != nil {
			return fmt.Errorf("create messages: %w", err)
		}
		results = append(results, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("create messages: %w", err)
	}
	// Only now is the statement known to have committed.
	for _, r := range results {
		p := batch[r.ord-1]
		found[r.ord-1] = true
		m := p.m
		m.ID, m.Seq, m.EventSeq, m.Body, m.CreatedAt = model.MessageID(r.id), r.seq, r.eventSeq, r.body, r.createdAt.UTC()
		m.EditedAt, m.DeletedAt = timePtr(r.editedAt), timePtr(r.deletedAt)
		p.created = r.created
	}
	for i, p := range batch {
		if !found[i] {
			p.err = errConversationNotFound
		}
	}
	return nil
}
