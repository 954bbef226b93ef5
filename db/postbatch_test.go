package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"parley/db"
	"parley/internal/dbtest"
	"parley/model"
)

// openStore opens another Store on dsn: another instance of the server.
func openStore(t *testing.T, dsn string) *db.Store {
	t.Helper()
	s, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// holdConversation locks conversation c's row from a connection of its own,
// as a post storing a batch does, so that posts to c queue behind it. It
// returns a function that releases the lock, and one that waits until n
// statements wait for a lock in the database.
func holdConversation(t *testing.T, dsn string, c model.ConversationID) (release func(), awaitWaiters func(n int)) {
	t.Helper()
	ctx := context.Background()
	conn, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", c); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback() }) }
	t.Cleanup(release)
	awaitWaiters = func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var waiting int
			err := conn.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
			if err != nil {
				t.Fatal(err)
			}
			if waiting >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("statements waiting for a lock: got %d, want %d", waiting, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return release, awaitWaiters
}

// postResult is what one CreateMessage call returned.
type postResult struct {
	sent    string // the body posted
	m       model.Message
	created bool
	err     error
}

// queuePost starts CreateMessage(m) on s and waits until it has queued
// behind the batch in flight, so that the posts queued this way form the
// next batch in this order.
func queuePost(t *testing.T, s *db.Store, m model.Message, out chan<- postResult) {
	t.Helper()
	before := s.QueuedPosts()
	go func() {
		sent := m.Body
		created, err := s.CreateMessage(context.Background(), &m)
		out <- postResult{sent, m, created, err}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for s.QueuedPosts() == before {
		if time.Now().After(deadline) {
			t.Fatal("the post did not queue")
		}
		time.Sleep(time.Millisecond)
	}
}

// transactions returns how many transactions stored the messages of
// conversation c with seq in [from, to].
func transactions(t *testing.T, dsn string, c model.ConversationID, from, to int64) int {
	t.Helper()
	conn, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	err = conn.QueryRow(`SELECT count(DISTINCT xmin::text) FROM messages WHERE conversation_id = $1 AND seq BETWEEN $2 AND $3`, c, from, to).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStore_CreateMessage_Batch checks that the posts of one batch keep
// every per-message guarantee: a non-member's post and a retry of a stored
// client_msg_id get what they would alone, two retries of one new
// client_msg_id inside the batch store one message, and the new messages of
// each conversation are numbered in the order posted, in one transaction.
func TestStore_CreateMessage_Batch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := dbtest.DSN(t)
	s := openStore(t, dsn)
	alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")
	dave := mustUser(t, s, "dave")
	ch := mustChannel(t, s, "general", alice.ID, bob.ID, dave.ID)
	other := mustChannel(t, s, "other", alice.ID)
	old := model.Message{ConversationID: ch.ID, SenderID: alice.ID, Body: "old", ClientMsgID: "k-old"}
	if _, err := s.CreateMessage(ctx, &old); err != nil {
		t.Fatal(err)
	}
	// dave posts, then leaves: his retry is a non-member's post.
	gone := model.Message{ConversationID: ch.ID, SenderID: dave.ID, Body: "gone", ClientMsgID: "k-gone"}
	if _, err := s.CreateMessage(ctx, &gone); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LeaveChannel(ctx, dave.ID, ch.ID); err != nil {
		t.Fatal(err)
	}

	release, awaitWaiters := holdConversation(t, dsn, ch.ID)
	results := make(chan postResult, 10)
	// The batch in flight: it waits for the lock.
	go func() {
		m := model.Message{ConversationID: ch.ID, SenderID: bob.ID, Body: "lead"}
		created, err := s.CreateMessage(ctx, &m)
		results <- postResult{m.Body, m, created, err}
	}()
	awaitWaiters(1)
	posts := []model.Message{
		{ConversationID: ch.ID, SenderID: alice.ID, Body: "first", ClientMsgID: "k-dup"},
		{ConversationID: ch.ID, SenderID: carol.ID, Body: "not a member"},
		{ConversationID: other.ID, SenderID: alice.ID, Body: "elsewhere"},
		{ConversationID: ch.ID, SenderID: alice.ID, Body: "first, again", ClientMsgID: "k-dup"},
		{ConversationID: ch.ID, SenderID: alice.ID, Body: "old, again", ClientMsgID: "k-old"},
		{ConversationID: ch.ID, SenderID: dave.ID, Body: "gone, again", ClientMsgID: "k-gone"},
		{ConversationID: ch.ID, SenderID: bob.ID, Body: "second"},
	}
	for _, m := range posts {
		queuePost(t, s, m, results)
	}
	release()

	got := map[string]postResult{}
	for range len(posts) + 1 {
		r := <-results
		got[r.sent] = r
	}
	// Retries are answered with the original.
	for body, want := range map[string]struct {
		seq     int64
		created bool
		code    model.Code
	}{
		"lead":         {seq: 3, created: true},
		"first":        {seq: 4, created: true},
		"first, again": {seq: 4, created: false},
		"elsewhere":    {seq: 1, created: true},
		"second":       {seq: 5, created: true},
		"old, again":   {seq: 1, created: false},
		"not a member": {code: model.ENotFound},
		"gone, again":  {code: model.ENotFound},
	} {
		r, ok := got[body]
		if !ok {
			t.Errorf("%q: no result; got %v", body, got)
			continue
		}
		checkCode(t, body, r.err, want.code)
		if r.m.Seq != want.seq || r.created != want.created {
			t.Errorf("%q: got seq %d created %v, want seq %d created %v", body, r.m.Seq, r.created, want.seq, want.created)
		}
	}
	if diff := cmp.Diff(old, got["old, again"].m); diff != "" {
		t.Errorf("the retry of a stored message (-original +got):\n%s", diff)
	}
	if diff := cmp.Diff(got["first"].m, got["first, again"].m); diff != "" {
		t.Errorf("the retry inside the batch (-original +got):\n%s", diff)
	}

	all := allMessages(t, s, alice.ID, ch.ID)
	if diff := cmp.Diff(seqRange(1, 5), seqs(all)); diff != "" {
		t.Errorf("seqs (-want +got):\n%s", diff)
	}
	var bodies []string
	for _, m := range all {
		bodies = append(bodies, m.Body)
	}
	if diff := cmp.Diff([]string{"old", "gone", "lead", "first", "second"}, bodies); diff != "" {
		t.Errorf("bodies in seq order (-want +got):\n%s", diff)
	}
	for _, m := range all {
		if m.EventSeq != m.Seq {
			t.Errorf("seq %d: got event_seq %d, want %d (no edits)", m.Seq, m.EventSeq, m.Seq)
		}
	}
	if n := transactions(t, dsn, ch.ID, 4, 5); n != 1 {
		t.Errorf("transactions that stored the batch's messages: got %d, want 1", n)
	}
	// Each sender's read marker moved to their newest message.
	for _, w := range []struct {
		user      model.User
		read, evs int64
	}{{alice, 4, 5}, {bob, 5, 5}} {
		c, err := s.GetConversation(ctx, w.user.ID, ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.ReadSeq != w.read || c.LastEventSeq != w.evs {
			t.Errorf("%s: got read_seq %d last_event_seq %d, want %d and %d", w.user.Username, c.ReadSeq, c.LastEventSeq, w.read, w.evs)
		}
	}
}

// TestStore_CreateMessage_BatchFailsAlone checks that a message PostgreSQL
// rejects (here a body with a NUL byte, which the API never lets through)
// fails alone: its batch-mates are stored, with no hole in seq.
func TestStore_CreateMessage_BatchFailsAlone(t *testing.T) {
	t.Parallel()
	dsn := dbtest.DSN(t)
	s := openStore(t, dsn)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	ch := mustChannel(t, s, "general", alice.ID, bob.ID)

	release, awaitWaiters := holdConversation(t, dsn, ch.ID)
	results := make(chan postResult, 4)
	go func() {
		m := model.Message{ConversationID: ch.ID, SenderID: alice.ID, Body: "lead"}
		created, err := s.CreateMessage(context.Background(), &m)
		results <- postResult{m.Body, m, created, err}
	}()
	awaitWaiters(1)
	for _, m := range []model.Message{
		{ConversationID: ch.ID, SenderID: alice.ID, Body: "good"},
		{ConversationID: ch.ID, SenderID: bob.ID, Body: "bad\x00"},
		{ConversationID: ch.ID, SenderID: bob.ID, Body: "also good"},
	} {
		queuePost(t, s, m, results)
	}
	release()
	for range 4 {
		r := <-results
		if r.sent == "bad\x00" {
			if r.err == nil || r.created {
				t.Errorf("the bad message: got created %v, err %v; want an error", r.created, r.err)
			}
			continue
		}
		if r.err != nil || !r.created {
			t.Errorf("%q: got created %v, err %v; want it stored", r.m.Body, r.created, r.err)
		}
	}
	all := allMessages(t, s, alice.ID, ch.ID)
	var bodies []string
	for _, m := range all {
		bodies = append(bodies, m.Body)
	}
	if diff := cmp.Diff([]string{"lead", "good", "also good"}, bodies); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(seqRange(1, 3), seqs(all)); diff != "" {
		t.Errorf("seqs (-want +got):\n%s", diff)
	}
}

// TestStore_CreateMessage_RetryRacesAcrossInstances has two instances
// store batches at once that both hold a retry of one message: one stores
// it, the other answers with it, and seq keeps no hole.
func TestStore_CreateMessage_RetryRacesAcrossInstances(t *testing.T) {
	t.Parallel()
	dsn := dbtest.DSN(t)
	s1, s2 := openStore(t, dsn), openStore(t, dsn)
	alice, bob := mustUser(t, s1, "alice"), mustUser(t, s1, "bob")
	ch := mustChannel(t, s1, "general", alice.ID, bob.ID)

	release, awaitWaiters := holdConversation(t, dsn, ch.ID)
	results := make(chan postResult, 6)
	for i, s := range []*db.Store{s1, s2} {
		go func() {
			m := model.Message{ConversationID: ch.ID, SenderID: bob.ID, Body: "lead " + strconv.Itoa(i)}
			created, err := s.CreateMessage(context.Background(), &m)
			results <- postResult{m.Body, m, created, err}
		}()
		awaitWaiters(i + 1)
	}
	for i, s := range []*db.Store{s1, s2} {
		queuePost(t, s, model.Message{ConversationID: ch.ID, SenderID: alice.ID, Body: "once", ClientMsgID: "the-key"}, results)
		queuePost(t, s, model.Message{ConversationID: ch.ID, SenderID: bob.ID, Body: "other " + strconv.Itoa(i)}, results)
	}
	release()
	var retries []postResult
	for range 6 {
		r := <-results
		if r.err != nil {
			t.Fatalf("%q: %v", r.m.Body, r.err)
		}
		if r.m.ClientMsgID == "the-key" {
			retries = append(retries, r)
		} else if !r.created {
			t.Errorf("%q: not created", r.m.Body)
		}
	}
	if retries[0].created == retries[1].created {
		t.Errorf("retries that created: got both %v, want one", retries[0].created)
	}
	if diff := cmp.Diff(retries[0].m, retries[1].m); diff != "" {
		t.Errorf("the two instances' answers differ (-first +second):\n%s", diff)
	}
	all := allMessages(t, s1, alice.ID, ch.ID)
	if diff := cmp.Diff(seqRange(1, 5), seqs(all)); diff != "" {
		t.Errorf("seqs (-want +got):\n%s", diff)
	}
}

// TestStore_PostMessage_Concurrent has 50 members post at once to one
// conversation: every seq from 1 up is stored once, the messages were
// stored in fewer transactions than there are messages (they were
// batched), and announce saw each message once, after its commit, in seq
// order.
func TestStore_PostMessage_Concurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := dbtest.DSN(t)
	s := openStore(t, dsn)
	const posters, each = 50, 5
	owner := mustUser(t, s, "owner")
	ch := mustChannel(t, s, "busy", owner.ID)
	users := make([]model.User, posters)
	for i := range users {
		users[i] = mustUser(t, s, fmt.Sprintf("poster%02d", i))
		if _, _, err := s.JoinChannel(ctx, users[i].ID, ch.ID); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	var announced []int64
	var unstored []string
	announce := func(m model.Message) {
		// Committed: another connection sees it.
		_, err := s.GetMessage(ctx, owner.ID, m.ID)
		mu.Lock()
		if err != nil {
			unstored = append(unstored, fmt.Sprintf("seq %d: %v", m.Seq, err))
		}
		announced = append(announced, m.Seq)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	errs := make(chan error, posters*each)
	for _, u := range users {
		wg.Go(func() {
			for i := range each {
				m := model.Message{ConversationID: ch.ID, SenderID: u.ID, Body: strconv.Itoa(i)}
				created, err := s.PostMessage(ctx, &m, announce)
				if err != nil || !created {
					errs <- fmt.Errorf("PostMessage(%s #%d): created %v, %w", u.Username, i, created, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(unstored) > 0 {
		t.Errorf("announced before it was committed: %v", unstored)
	}
	want := seqRange(1, posters*each)
	all := allMessages(t, s, owner.ID, ch.ID)
	if diff := cmp.Diff(want, seqs(all)); diff != "" {
		t.Errorf("seqs (-want +got):\n%s", diff)
	}
	// event_seq too, and the message ids (change ids) rise with it.
	for i, m := range all {
		if m.EventSeq != int64(i+1) {
			t.Errorf("message %d: got event_seq %d, want %d", i, m.EventSeq, i+1)
		}
		if i > 0 && m.ID <= all[i-1].ID {
			t.Errorf("event_seq %d has id %d, not above the one before's %d", m.EventSeq, m.ID, all[i-1].ID)
		}
	}
	if diff := cmp.Diff(want, announced); diff != "" {
		t.Errorf("seqs in the order announced (-want +got):\n%s", diff)
	}
	if !slices.IsSorted(announced) {
		t.Error("announced out of seq order")
	}
	if n := transactions(t, dsn, ch.ID, 1, posters*each); n >= posters*each {
		t.Errorf("transactions: got %d for %d messages, want fewer (batches)", n, posters*each)
	} else {
		t.Logf("%d messages in %d transactions", posters*each, n)
	}
}
