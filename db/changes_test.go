package db_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"parley/db"
	"parley/model"
)

// allChanges pages c's changes feed from after to the end, as actor.
func allChanges(t testing.TB, s *db.Store, actor model.UserID, c model.ConversationID, after int64, limit int) []model.Change {
	t.Helper()
	var all []model.Change
	f := model.ChangeFilter{ConversationID: c, After: after, Limit: limit}
	for {
		page, more, err := s.ListChanges(context.Background(), actor, f)
		if err != nil {
			t.Fatalf("ListChanges(%+v): %v", f, err)
		}
		all = append(all, page...)
		if !more {
			return all
		}
		f.After = page[len(page)-1].EventSeq
	}
}

func TestStore_ListChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob, eve := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "eve")
	ch := mustChannel(t, s, "general", alice.ID, bob.ID)

	m1 := mustPost(t, s, ch.ID, alice.ID, "one")                             // 1
	m2 := mustPost(t, s, ch.ID, bob.ID, "two")                               // 2
	m3 := mustPost(t, s, ch.ID, alice.ID, "three")                           // 3
	if _, err := s.UpdateMessage(ctx, alice.ID, m1.ID, "one!"); err != nil { // 4
		t.Fatal(err)
	}
	if _, err := s.DeleteMessage(ctx, bob.ID, m2.ID); err != nil { // 5
		t.Fatal(err)
	}
	if _, err := s.UpdateMessage(ctx, alice.ID, m1.ID, "one!!"); err != nil { // 6
		t.Fatal(err)
	}
	// Refused changes take no number.
	if _, err := s.UpdateMessage(ctx, bob.ID, m1.ID, "mine"); model.ErrorCode(err) != model.EForbidden {
		t.Fatalf("UpdateMessage by another: got %v, want forbidden", err)
	}
	if _, err := s.UpdateMessage(ctx, bob.ID, m2.ID, "back"); model.ErrorCode(err) != model.EConflict {
		t.Fatalf("UpdateMessage of a deleted one: got %v, want conflict", err)
	}
	if _, err := s.DeleteMessage(ctx, bob.ID, m2.ID); err != nil { // again: changes nothing
		t.Fatal(err)
	}
	if _, err := s.DeleteMessage(ctx, eve.ID, m3.ID); model.ErrorCode(err) != model.ENotFound {
		t.Fatalf("DeleteMessage by a stranger: got %v, want not found", err)
	}
	retry := model.Message{ConversationID: ch.ID, SenderID: alice.ID, Body: "x", ClientMsgID: "k"}
	for range 2 { // 7, then a retry that takes nothing
		if _, err := s.CreateMessage(ctx, &retry); err != nil {
			t.Fatal(err)
		}
	}

	c, err := s.GetConversation(ctx, bob.ID, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastEventSeq != 7 {
		t.Errorf("last_event_seq: got %d, want 7", c.LastEventSeq)
	}
	all := []model.Change{
		{EventSeq: 3, Type: model.EventMessageCreated, MessageID: m3.ID, Seq: 3},
		{EventSeq: 5, Type: model.EventMessageDeleted, MessageID: m2.ID, Seq: 2},
		{EventSeq: 6, Type: model.EventMessageUpdated, MessageID: m1.ID, Seq: 1},
		{EventSeq: 7, Type: model.EventMessageCreated, MessageID: retry.ID, Seq: 4},
	}
	tests := []struct {
		name     string
		f        model.ChangeFilter
		want     []model.Change
		wantMore bool
	}{
		{"All", model.ChangeFilter{}, all, false},
		{"After", model.ChangeFilter{After: 4}, all[1:], false},
		{"AfterASupersededOne", model.ChangeFilter{After: 3}, all[1:], false},
		{"Limit", model.ChangeFilter{Limit: 3}, all[:3], true},
		{"LimitExactly", model.ChangeFilter{Limit: 4}, all, false},
		{"AtTheEnd", model.ChangeFilter{After: 7}, []model.Change{}, false},
		{"Beyond", model.ChangeFilter{After: 99}, []model.Change{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.ConversationID = ch.ID
			got, more, err := s.ListChanges(ctx, bob.ID, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || more != tt.wantMore {
				t.Errorf("ListChanges(%+v): more %v, want %v (-want +got):\n%s", tt.f, more, tt.wantMore, diff)
			}
		})
	}
	t.Run("ErrNotMember", func(t *testing.T) {
		_, _, err := s.ListChanges(ctx, eve.ID, model.ChangeFilter{ConversationID: ch.ID})
		checkCode(t, "ListChanges", err, model.ENotFound)
		_, _, err = s.ListChanges(ctx, eve.ID, model.ChangeFilter{ConversationID: ch.ID, After: 99})
		checkCode(t, "ListChanges(after the end)", err, model.ENotFound)
	})
}

// TestStore_EventSeqGapless has 50 members post, edit and delete in one
// conversation at once, and checks that the changes that succeeded were
// numbered 1…N exactly once each, that last_event_seq is N, and that the
// changes feed holds every message once, at its latest change.
func TestStore_EventSeqGapless(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	const workers, rounds = 50, 8
	owner := mustUser(t, s, "owner")
	ch := mustChannel(t, s, "busy", owner.ID)
	users := make([]model.User, workers)
	for i := range users {
		users[i] = mustUser(t, s, fmt.Sprintf("user%d", i))
		if _, _, err := s.JoinChannel(ctx, users[i].ID, ch.ID); err != nil {
			t.Fatal(err)
		}
	}

	var (
		mu     sync.Mutex
		taken  = map[int64]string{}                 // event_seq → what took it
		latest = map[model.MessageID]model.Change{} // each message's last change seen by its writer
	)
	record := func(m model.Message, what string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := taken[m.EventSeq]; ok {
			t.Errorf("event_seq %d taken twice: by %s and by %s", m.EventSeq, prev, what)
		}
		taken[m.EventSeq] = what
		if m.EventSeq > latest[m.ID].EventSeq {
			latest[m.ID] = model.Change{EventSeq: m.EventSeq, Type: m.ChangeType(), MessageID: m.ID, Seq: m.Seq}
		}
	}
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			var mine []model.MessageID
			for r := range rounds {
				m := model.Message{ConversationID: ch.ID, SenderID: u.ID, Body: fmt.Sprintf("%d/%d", i, r)}
				if _, err := s.CreateMessage(ctx, &m); err != nil {
					t.Errorf("CreateMessage: %v", err)
					return
				}
				record(m, fmt.Sprintf("post %d", m.ID))
				mine = append(mine, m.ID)
				id := mine[rng.IntN(len(mine))]
				if rng.IntN(4) == 0 {
					m, err := s.DeleteMessage(ctx, u.ID, id)
					if err != nil {
						t.Errorf("DeleteMessage: %v", err)
						return
					}
					if m.DeletedAt != nil {
						record(m, fmt.Sprintf("delete %d", id)) // a repeat records the same number, caught above
					}
					mine = slices.DeleteFunc(mine, func(x model.MessageID) bool { return x == id })
				} else if m, err := s.UpdateMessage(ctx, u.ID, id, fmt.Sprintf("edit %d", r)); err != nil {
					t.Errorf("UpdateMessage: %v", err)
					return
				} else {
					record(m, fmt.Sprintf("edit %d", id))
				}
				if len(mine) == 0 {
					mine = nil
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	n := int64(len(taken))
	for e := int64(1); e <= n; e++ {
		if _, ok := taken[e]; !ok {
			t.Errorf("event_seq %d was never taken, though %d changes were made", e, n)
		}
	}
	c, err := s.GetConversation(ctx, owner.ID, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastEventSeq != n || c.LastSeq != workers*rounds {
		t.Errorf("got last_event_seq %d, last_seq %d; want %d, %d", c.LastEventSeq, c.LastSeq, n, workers*rounds)
	}
	var want []model.Change
	for _, ch := range latest {
		want = append(want, ch)
	}
	slices.SortFunc(want, func(a, b model.Change) int { return int(a.EventSeq - b.EventSeq) })
	if diff := cmp.Diff(want, allChanges(t, s, owner.ID, ch.ID, 0, 0)); diff != "" {
		t.Errorf("changes feed (-want +got):\n%s", diff)
	}
}

// TestStore_ListChangesWhileCommitting pages the changes feed in small pages
// while writers post, edit and delete, and checks the feed's promise after
// each page: every change numbered up to the page's last item was seen,
// there or later (a message shows at its latest change only). Writers log
// each change once it returned, that is, once committed.
func TestStore_ListChangesWhileCommitting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	owner := mustUser(t, s, "owner")
	ch := mustChannel(t, s, "busy", owner.ID)
	const writers = 8

	type change struct {
		eventSeq int64
		id       model.MessageID
	}
	var (
		mu        sync.Mutex
		committed []change
		stop      atomic.Bool
		wg        sync.WaitGroup
	)
	for w := range writers {
		u := mustUser(t, s, fmt.Sprintf("writer%d", w))
		if _, _, err := s.JoinChannel(ctx, u.ID, ch.ID); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			var mine []model.MessageID
			for i := 0; !stop.Load() && i < 250; i++ {
				var m model.Message
				var err error
				switch {
				case len(mine) > 0 && rng.IntN(3) == 0:
					m, err = s.UpdateMessage(ctx, u.ID, mine[rng.IntN(len(mine))], "edited")
				case len(mine) > 0 && rng.IntN(6) == 0:
					k := rng.IntN(len(mine))
					m, err = s.DeleteMessage(ctx, u.ID, mine[k])
					mine = slices.Delete(mine, k, k+1)
				default:
					m = model.Message{ConversationID: ch.ID, SenderID: u.ID, Body: "new"}
					_, err = s.CreateMessage(ctx, &m)
					mine = append(mine, m.ID)
				}
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				committed = append(committed, change{m.EventSeq, m.ID})
				mu.Unlock()
			}
		}()
	}

	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()
	fail := func(format string, args ...any) {
		t.Helper()
		stop.Store(true)
		<-writing
		t.Fatalf(format, args...)
	}
	snapshot := func() []change {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(committed)
	}

	seen := map[model.MessageID]int64{} // the latest event_seq the reader saw of each message
	var after int64
	pages := 0
	for done := false; ; {
		select {
		case <-writing:
			done = true // what is read from now on is final
		default:
		}
		page, more, err := s.ListChanges(ctx, owner.ID, model.ChangeFilter{ConversationID: ch.ID, After: after, Limit: 3})
		if err != nil {
			fail("ListChanges: %v", err)
		}
		pages++
		for _, c := range page {
			if c.EventSeq <= after {
				fail("page after %d holds event_seq %d", after, c.EventSeq)
			}
			seen[c.MessageID] = c.EventSeq
			after = c.EventSeq
		}
		// Every change committed up to here and numbered up to after was
		// seen, at its number or later, unless its message has changed
		// again beyond after, to be seen further on.
		log := snapshot()
		beyond := map[model.MessageID]bool{}
		for _, c := range log {
			if c.eventSeq > after {
				beyond[c.id] = true
			}
		}
		for _, c := range log {
			if c.eventSeq <= after && seen[c.id] < c.eventSeq && !beyond[c.id] {
				fail("after reading up to event_seq %d: change %d of message %d was never seen (latest seen: %d)",
					after, c.eventSeq, c.id, seen[c.id])
			}
		}
		if done && !more {
			break
		}
	}
	// At the end, strictly: each message was seen at its latest change.
	final := map[model.MessageID]int64{}
	for _, c := range snapshot() {
		final[c.id] = max(final[c.id], c.eventSeq)
	}
	if diff := cmp.Diff(final, seen); diff != "" {
		t.Errorf("latest change of each message: committed (-) vs read (+):\n%s", diff)
	}
	if n := int64(len(committed)); n != after {
		t.Errorf("read up to event_seq %d; %d changes were committed", after, n)
	}
	t.Logf("%d changes, read in %d pages", len(committed), pages)
}

func TestStore_ListChangesSince(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")
	general := mustChannel(t, s, "general", alice.ID, bob.ID)
	secret := mustChannel(t, s, "secret", carol.ID)
	old := mustPost(t, s, general.ID, alice.ID, "old")
	doomed := mustPost(t, s, general.ID, alice.ID, "doomed")
	cursor := mustPost(t, s, general.ID, bob.ID, "bob's last seen")

	// What bob misses after cursor:
	mustPost(t, s, secret.ID, carol.ID, "not for bob")
	edited, err := s.UpdateMessage(ctx, alice.ID, old.ID, "old, edited")
	if err != nil {
		t.Fatal(err)
	}
	later := mustPost(t, s, general.ID, alice.ID, "later")
	deleted, err := s.DeleteMessage(ctx, alice.ID, doomed.ID)
	if err != nil {
		t.Fatal(err)
	}
	news := mustChannel(t, s, "news", carol.ID, bob.ID)
	if _, err := s.MarkRead(ctx, bob.ID, general.ID, later.Seq); err != nil {
		t.Fatal(err)
	}

	want := []model.Event{
		model.MessageUpdated(general.ID, old.ID, old.Seq, edited.EventSeq),
		model.MessageCreated(general.ID, later.ID, later.Seq, later.EventSeq),
		model.MessageDeleted(general.ID, doomed.ID, doomed.Seq, deleted.EventSeq),
		// Joins and read markers use up no change id: these two tie, in
		// conversation order.
		model.ReadUpdated(bob.ID, general.ID, later.Seq),
		model.ConversationJoined(bob.ID, news.ID),
	}
	got, more, err := s.ListChangesSince(ctx, bob.ID, cursor.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" || more {
		t.Errorf("ListChangesSince: more %v (-want +got):\n%s", more, diff)
	}

	t.Run("Limit", func(t *testing.T) {
		got, more, err := s.ListChangesSince(ctx, bob.ID, cursor.ID, 4)
		if err != nil || !more || len(got) != 0 {
			t.Errorf("ListChangesSince(limit 4): got %v, more %v, %v; want nothing and more", got, more, err)
		}
		got, more, err = s.ListChangesSince(ctx, bob.ID, cursor.ID, 5)
		if err != nil || more || len(got) != 5 {
			t.Errorf("ListChangesSince(limit 5): got %v, more %v, %v; want all 5", got, more, err)
		}
	})
	t.Run("ManyChangesInOneConversation", func(t *testing.T) {
		for i := range 3 {
			mustPost(t, s, secret.ID, carol.ID, fmt.Sprint(i))
		}
		_, more, err := s.ListChangesSince(ctx, carol.ID, cursor.ID, 3)
		if err != nil || !more {
			t.Errorf("ListChangesSince(3 of more than 3 in one conversation): more %v, %v; want more", more, err)
		}
	})
	t.Run("UpToDate", func(t *testing.T) {
		last := mustPost(t, s, general.ID, bob.ID, "newest")
		got, more, err := s.ListChangesSince(ctx, alice.ID, last.ID, 100)
		if err != nil || more || len(got) != 0 {
			t.Errorf("ListChangesSince(the newest): got %v, more %v, %v; want nothing", got, more, err)
		}
	})
}
