package db_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/lib/pq"

	"parley/internal/dbtest"
	"parley/model"
)

// TestStore_OnMessageCreated: the hook runs in the transaction that stores
// the new messages, a batch's together, and never for a retry; if it
// fails, nothing of the batch is stored.
func TestStore_OnMessageCreated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := dbtest.DSN(t)
	s := openStore(t, dsn)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	ch := mustChannel(t, s, "general", alice.ID, bob.ID)

	var mu sync.Mutex
	var hooked [][]model.MessageID
	fail := false
	s.OnMessageCreated = func(ctx context.Context, tx *sql.Tx, msgs []model.Message) error {
		ids := make([]int64, len(msgs))
		for i, m := range msgs {
			ids[i] = int64(m.ID)
		}
		// Inside the transaction: the messages are there, uncommitted.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE id = ANY($1)`, pq.Array(ids)).Scan(&n); err != nil || n != len(ids) {
			t.Errorf("hook sees %d of its %d messages in its transaction (%v)", n, len(ids), err)
		}
		mu.Lock()
		defer mu.Unlock()
		batch := make([]model.MessageID, len(msgs))
		for i, m := range msgs {
			batch[i] = m.ID
		}
		hooked = append(hooked, batch)
		if fail {
			return errors.New("queue down")
		}
		return nil
	}

	first := model.Message{ConversationID: ch.ID, SenderID: alice.ID, Body: "one", ClientMsgID: "k1"}
	if _, err := s.CreateMessage(ctx, &first); err != nil {
		t.Fatal(err)
	}
	// A batch: three held behind a lock, then stored together.
	release, awaitWaiters := holdConversation(t, dsn, ch.ID)
	results := make(chan postResult, 4)
	go func() {
		m := model.Message{ConversationID: ch.ID, SenderID: bob.ID, Body: "lead"}
		created, err := s.CreateMessage(ctx, &m)
		results <- postResult{m.Body, m, created, err}
	}()
	awaitWaiters(1)
	for _, m := range []model.Message{
		{ConversationID: ch.ID, SenderID: alice.ID, Body: "two"},
		{ConversationID: ch.ID, SenderID: alice.ID, Body: "one, again", ClientMsgID: "k1"},
		{ConversationID: ch.ID, SenderID: bob.ID, Body: "three"},
	} {
		queuePost(t, s, m, results)
	}
	release()
	byBody := map[string]model.Message{}
	for range 4 {
		r := <-results
		if r.err != nil {
			t.Fatalf("post %q: %v", r.sent, r.err)
		}
		byBody[r.sent] = r.m
	}
	mu.Lock()
	got := hooked
	mu.Unlock()
	want := [][]model.MessageID{{first.ID}, {byBody["lead"].ID}, {byBody["two"].ID, byBody["three"].ID}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("hook calls: got %v, want %v (the retry of k1 is not hooked)", got, want)
	}

	// The hook fails: the post fails, and nothing is stored.
	mu.Lock()
	fail = true
	mu.Unlock()
	m := model.Message{ConversationID: ch.ID, SenderID: alice.ID, Body: "lost"}
	if _, err := s.CreateMessage(ctx, &m); err == nil {
		t.Fatal("post with a failing hook: got no error")
	}
	c, err := s.GetConversation(ctx, alice.ID, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastSeq != 4 {
		t.Fatalf("last_seq after a failed hook: got %d, want 4", c.LastSeq)
	}
}
