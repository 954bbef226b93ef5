package db_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"parley/db"
	"parley/model"
)

func ptr[T any](v T) *T { return &v }

// seqs returns the seq of each message.
func seqs(ms []model.Message) []int64 {
	out := []int64{}
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

// seqRange returns from, from+1, …, to.
func seqRange(from, to int64) []int64 {
	out := []int64{}
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// allMessages pages forward through the whole conversation.
func allMessages(t *testing.T, s *db.Store, actor model.UserID, c model.ConversationID) []model.Message {
	t.Helper()
	var all []model.Message
	f := model.HistoryFilter{ConversationID: c, After: ptr(int64(0)), Limit: model.MaxPageLimit}
	for {
		page, more, err := s.ListMessages(context.Background(), actor, f)
		if err != nil {
			t.Fatalf("ListMessages(%+v): %v", f, err)
		}
		all = append(all, page...)
		if !more {
			return all
		}
		f.After = ptr(page[len(page)-1].Seq)
	}
}

func TestStore_CreateMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")
	ch := mustChannel(t, s, "general", alice.ID, bob.ID)

	t.Run("OK", func(t *testing.T) {
		m := model.Message{ConversationID: ch.ID, SenderID: alice.ID, Body: "hello", ClientMsgID: "k1"}
		created, err := s.CreateMessage(ctx, &m)
		if err != nil {
			t.Fatalf("CreateMessage: %v", err)
		}
		want := model.Message{ID: m.ID, ConversationID: ch.ID, Seq: 1, EventSeq: 1, SenderID: alice.ID, Body: "hello", ClientMsgID: "k1", CreatedAt: t0}
		if diff := cmp.Diff(want, m); diff != "" {
			t.Errorf("CreateMessage (-want +got):\n%s", diff)
		}
		if !created {
			t.Errorf("created: got false, want true")
		}
		read, err := s.GetMessage(ctx, bob.ID, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(m, read); diff != "" {
			t.Errorf("GetMessage (-created +read):\n%s", diff)
		}
	})

	t.Run("RetryReturnsOriginal", func(t *testing.T) {
		m := model.Message{ConversationID: ch.ID, SenderID: alice.ID, Body: "hello again", ClientMsgID: "k1"}
		created, err := s.CreateMessage(ctx, &m)
		if err != nil {
			t.Fatalf("CreateMessage(retry): %v", err)
		}
		if created {
			t.Errorf("created: got true, want false")
		}
		if m.Seq != 1 || m.Body != "hello" {
			t.Errorf("CreateMessage(retry): got seq %d body %q, want the original (seq 1, %q)", m.Seq, m.Body, "hello")
		}
	})

	t.Run("SameKeyOtherSender", func(t *testing.T) {
		m := model.Message{ConversationID: ch.ID, SenderID: bob.ID, Body: "mine", ClientMsgID: "k1"}
		created, err := s.CreateMessage(ctx, &m)
		if err != nil {
			t.Fatal(err)
		}
		if !created || m.Seq != 2 {
			t.Errorf("CreateMessage(bob, k1): got (created %v, seq %d), want (true, 2): the retry left no hole", created, m.Seq)
		}
	})

	t.Run("NoKeyNeverDeduplicates", func(t *testing.T) {
		for _, want := range []int64{3, 4} {
			m := model.Message{ConversationID: ch.ID, SenderID: bob.ID, Body: "same"}
			created, err := s.CreateMessage(ctx, &m)
			if err != nil {
				t.Fatal(err)
			}
			if !created || m.Seq != want || m.ClientMsgID != "" {
				t.Errorf("CreateMessage(no key): got (created %v, seq %d, key %q), want (true, %d, \"\")", created, m.Seq, m.ClientMsgID, want)
			}
		}
	})

	tests := []struct {
		name   string
		conv   model.ConversationID
		sender model.UserID
		want   model.Code
	}{
		{"ErrNotMember", ch.ID, carol.ID, model.ENotFound},
		{"ErrUnknownConversation", 9999, alice.ID, model.ENotFound},
		{"ErrUnknownSender", ch.ID, 9999, model.ENotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := model.Message{ConversationID: tt.conv, SenderID: tt.sender, Body: "x", ClientMsgID: "k-" + tt.name}
			_, err := s.CreateMessage(ctx, &m)
			checkCode(t, "CreateMessage", err, tt.want)
		})
	}

	c, err := s.GetConversation(ctx, alice.ID, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastSeq != 4 {
		t.Errorf("LastSeq: got %d, want 4", c.LastSeq)
	}
}

// TestStore_CreateMessage_ConcurrentPosters checks that seq has no holes and
// follows commit order: a follower paging with after= while 50 members post
// sees every seq exactly once, in order, and never one before the previous.
func TestStore_CreateMessage_ConcurrentPosters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	const posters, each = 50, 4
	owner := mustUser(t, s, "owner")
	ch := mustChannel(t, s, "busy", owner.ID)
	users := make([]model.User, posters)
	for i := range users {
		users[i] = mustUser(t, s, fmt.Sprintf("poster%02d", i))
		if _, _, err := s.JoinChannel(ctx, users[i].ID, ch.ID); err != nil {
			t.Fatal(err)
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, posters*each+1)
	for _, u := range users {
		wg.Go(func() {
			for i := range each {
				m := model.Message{ConversationID: ch.ID, SenderID: u.ID, Body: strconv.Itoa(i)}
				if _, err := s.CreateMessage(ctx, &m); err != nil {
					errs <- fmt.Errorf("CreateMessage(%s #%d): %w", u.Username, i, err)
					return
				}
			}
		})
	}
	// The follower: what a client does after a notification.
	var seen []int64
	posted := make(chan struct{}) // closed when every poster has returned
	follower := make(chan struct{})
	go func() {
		defer close(follower)
		last := int64(0)
		for last < posters*each {
			var done bool
			select {
			case <-posted:
				done = true
			default:
			}
			page, _, err := s.ListMessages(ctx, owner.ID, model.HistoryFilter{ConversationID: ch.ID, After: ptr(last), Limit: model.MaxPageLimit})
			if err != nil {
				errs <- fmt.Errorf("follower: %w", err)
				return
			}
			if done && len(page) == 0 {
				errs <- fmt.Errorf("follower: got nothing after seq %d, want up to %d", last, posters*each)
				return
			}
			for _, m := range page {
				seen = append(seen, m.Seq)
				if m.Seq != last+1 {
					errs <- fmt.Errorf("follower after %d: got seq %d, want %d", last, m.Seq, last+1)
					return
				}
				last = m.Seq
			}
		}
	}()
	wg.Wait()
	close(posted)
	<-follower
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	all := allMessages(t, s, owner.ID, ch.ID)
	if diff := cmp.Diff(seqRange(1, posters*each), seqs(all)); diff != "" {
		t.Errorf("seqs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(seqRange(1, posters*each), seen); diff != "" {
		t.Errorf("seqs the follower saw (-want +got):\n%s", diff)
	}
	// Each poster's messages are in the order it sent them.
	next := map[model.UserID]int{}
	for _, m := range all {
		if want := strconv.Itoa(next[m.SenderID]); m.Body != want {
			t.Errorf("seq %d from %d: got body %q, want %q", m.Seq, m.SenderID, m.Body, want)
		}
		next[m.SenderID]++
	}
	c, err := s.GetConversation(ctx, owner.ID, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastSeq != posters*each {
		t.Errorf("LastSeq: got %d, want %d", c.LastSeq, posters*each)
	}
}

// TestStore_CreateMessage_ConcurrentRetries checks that retries racing with
// one client_msg_id store one message, and, with others posting meanwhile,
// leave no hole in seq.
func TestStore_CreateMessage_ConcurrentRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	ch := mustChannel(t, s, "general", alice.ID, bob.ID)

	const retries, others = 20, 10
	results := make([]model.Message, retries)
	created := make([]bool, retries)
	errs := make([]error, retries+others)
	var wg sync.WaitGroup
	for i := range retries {
		wg.Go(func() {
			results[i] = model.Message{ConversationID: ch.ID, SenderID: alice.ID, Body: "once", ClientMsgID: "the-key"}
			created[i], errs[i] = s.CreateMessage(ctx, &results[i])
		})
	}
	for i := range others {
		wg.Go(func() {
			m := model.Message{ConversationID: ch.ID, SenderID: bob.ID, Body: "other", ClientMsgID: fmt.Sprintf("bob-%d", i)}
			_, errs[retries+i] = s.CreateMessage(ctx, &m)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("CreateMessage #%d: %v", i, err)
		}
	}
	nCreated := 0
	for i := range retries {
		if created[i] {
			nCreated++
		}
		if diff := cmp.Diff(results[0], results[i]); diff != "" {
			t.Errorf("retry #%d differs from #0 (-#0 +#%d):\n%s", i, i, diff)
		}
	}
	if nCreated != 1 {
		t.Errorf("retries that created: got %d, want 1", nCreated)
	}

	all := allMessages(t, s, bob.ID, ch.ID)
	if diff := cmp.Diff(seqRange(1, 1+others), seqs(all)); diff != "" {
		t.Errorf("seqs (-want +got):\n%s", diff)
	}
	n := 0
	for _, m := range all {
		if m.ClientMsgID == "the-key" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("messages with the retried key: got %d, want 1", n)
	}
}

func TestStore_ListMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clk := newStore(t)
	alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")
	ch := mustChannel(t, s, "general", alice.ID, bob.ID)
	empty := mustChannel(t, s, "quiet", alice.ID)
	var posted []model.Message
	for i := range 40 {
		posted = append(posted, mustPost(t, s, ch.ID, alice.ID, fmt.Sprintf("m%d", i+1)))
		clk.Advance(time.Second)
	}

	tests := []struct {
		name     string
		actor    model.UserID
		f        model.HistoryFilter
		want     []int64
		wantMore bool
		wantCode model.Code
	}{
		{name: "Latest", actor: bob.ID, f: model.HistoryFilter{}, want: seqRange(26, 40), wantMore: true},
		{name: "LatestLimit", actor: bob.ID, f: model.HistoryFilter{Limit: 5}, want: seqRange(36, 40), wantMore: true},
		{name: "LatestAll", actor: bob.ID, f: model.HistoryFilter{Limit: 40}, want: seqRange(1, 40), wantMore: false},
		{name: "LimitCapped", actor: bob.ID, f: model.HistoryFilter{Limit: 1000}, want: seqRange(1, 40), wantMore: false},
		{name: "Before", actor: bob.ID, f: model.HistoryFilter{Before: ptr(int64(26))}, want: seqRange(11, 25), wantMore: true},
		{name: "BeforeReachesStart", actor: bob.ID, f: model.HistoryFilter{Before: ptr(int64(11)), Limit: 15}, want: seqRange(1, 10), wantMore: false},
		{name: "BeforeExactlyStart", actor: bob.ID, f: model.HistoryFilter{Before: ptr(int64(6)), Limit: 5}, want: seqRange(1, 5), wantMore: false},
		{name: "BeforeFirst", actor: bob.ID, f: model.HistoryFilter{Before: ptr(int64(1))}, want: []int64{}, wantMore: false},
		{name: "AfterZero", actor: bob.ID, f: model.HistoryFilter{After: ptr(int64(0))}, want: seqRange(1, 15), wantMore: true},
		{name: "After", actor: bob.ID, f: model.HistoryFilter{After: ptr(int64(30)), Limit: 5}, want: seqRange(31, 35), wantMore: true},
		{name: "AfterReachesEnd", actor: bob.ID, f: model.HistoryFilter{After: ptr(int64(35)), Limit: 5}, want: seqRange(36, 40), wantMore: false},
		{name: "AfterLast", actor: bob.ID, f: model.HistoryFilter{After: ptr(int64(40))}, want: []int64{}, wantMore: false},
		{name: "EmptyConversation", actor: alice.ID, f: model.HistoryFilter{ConversationID: empty.ID}, want: []int64{}},
		{name: "ErrNotMember", actor: carol.ID, f: model.HistoryFilter{}, wantCode: model.ENotFound},
		{name: "ErrNotMemberEmpty", actor: bob.ID, f: model.HistoryFilter{ConversationID: empty.ID}, wantCode: model.ENotFound},
		{name: "ErrNotMemberBefore", actor: carol.ID, f: model.HistoryFilter{Before: ptr(int64(10))}, wantCode: model.ENotFound},
		{name: "ErrNotMemberAfter", actor: carol.ID, f: model.HistoryFilter{After: ptr(int64(10))}, wantCode: model.ENotFound},
		{name: "ErrUnknown", actor: bob.ID, f: model.HistoryFilter{ConversationID: 9999}, wantCode: model.ENotFound},
		{name: "ErrBeforeAndAfter", actor: bob.ID, f: model.HistoryFilter{Before: ptr(int64(10)), After: ptr(int64(2))}, wantCode: model.EInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.f.ConversationID == 0 {
				tt.f.ConversationID = ch.ID
			}
			got, more, err := s.ListMessages(ctx, tt.actor, tt.f)
			checkCode(t, "ListMessages", err, tt.wantCode)
			if tt.wantCode != "" {
				return
			}
			if diff := cmp.Diff(tt.want, seqs(got)); diff != "" {
				t.Errorf("ListMessages seqs (-want +got):\n%s", diff)
			}
			if more != tt.wantMore {
				t.Errorf("ListMessages has_more: got %v, want %v", more, tt.wantMore)
			}
		})
	}

	t.Run("Fields", func(t *testing.T) {
		got, _, err := s.ListMessages(ctx, bob.ID, model.HistoryFilter{ConversationID: ch.ID, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(posted[38:], got); diff != "" {
			t.Errorf("ListMessages (-posted +listed):\n%s", diff)
		}
	})
}

// TestStore_ListMessages_WhileInserting pages backwards from the latest and
// forwards from the start while new messages keep arriving: neither way has
// gaps or duplicates.
func TestStore_ListMessages_WhileInserting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	ch := mustChannel(t, s, "general", alice.ID, bob.ID)
	const before, during, limit = 60, 60, 7
	for range before {
		mustPost(t, s, ch.ID, alice.ID, "old")
	}

	errs := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range during {
			m := model.Message{ConversationID: ch.ID, SenderID: alice.ID, Body: "new"}
			if _, err := s.CreateMessage(ctx, &m); err != nil {
				errs <- err
				return
			}
		}
	})
	var backward, forward []int64
	wg.Go(func() {
		f := model.HistoryFilter{ConversationID: ch.ID, Limit: limit}
		for {
			page, more, err := s.ListMessages(ctx, bob.ID, f)
			if err != nil {
				errs <- err
				return
			}
			// Pages come oldest first; the walk goes newest first.
			for i := len(page) - 1; i >= 0; i-- {
				backward = append(backward, page[i].Seq)
			}
			if !more {
				return
			}
			f.Before = ptr(page[0].Seq)
		}
	})
	wg.Go(func() {
		f := model.HistoryFilter{ConversationID: ch.ID, After: ptr(int64(0)), Limit: limit}
		for {
			page, more, err := s.ListMessages(ctx, bob.ID, f)
			if err != nil {
				errs <- err
				return
			}
			forward = append(forward, seqs(page)...)
			if !more {
				return
			}
			f.After = ptr(page[len(page)-1].Seq)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	if len(backward) == 0 || backward[0] < before {
		t.Fatalf("backward walk: got %v, want it to start at seq %d or later", backward, before)
	}
	want := seqRange(1, backward[0])
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	if diff := cmp.Diff(want, backward); diff != "" {
		t.Errorf("backward walk (-want +got):\n%s", diff)
	}
	if len(forward) < before {
		t.Fatalf("forward walk: got %d messages, want at least %d", len(forward), before)
	}
	if diff := cmp.Diff(seqRange(1, int64(len(forward))), forward); diff != "" {
		t.Errorf("forward walk (-want +got):\n%s", diff)
	}
}

func TestStore_GetMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	ch := mustChannel(t, s, "general", alice.ID)
	m := mustPost(t, s, ch.ID, alice.ID, "hi")

	got, err := s.GetMessage(ctx, alice.ID, m.ID)
	if err != nil {
		t.Fatalf("GetMessage: %v", err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("GetMessage (-want +got):\n%s", diff)
	}
	_, err = s.GetMessage(ctx, bob.ID, m.ID)
	checkCode(t, "GetMessage(not a member)", err, model.ENotFound)
	_, err = s.GetMessage(ctx, alice.ID, 9999)
	checkCode(t, "GetMessage(unknown)", err, model.ENotFound)
}

func TestStore_GetMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	shared := mustChannel(t, s, "shared", alice.ID, bob.ID)
	private := mustChannel(t, s, "private", alice.ID)
	m1 := mustPost(t, s, shared.ID, alice.ID, "one")
	hidden := mustPost(t, s, private.ID, alice.ID, "secret")
	m2 := mustPost(t, s, shared.ID, bob.ID, "two")

	tests := []struct {
		name  string
		actor model.UserID
		ids   []model.MessageID
		want  []model.Message
	}{
		{"AscendingIDs", bob.ID, []model.MessageID{m2.ID, m1.ID}, []model.Message{m1, m2}},
		{"LeavesOutUnreadable", bob.ID, []model.MessageID{m1.ID, hidden.ID, 9999, m2.ID}, []model.Message{m1, m2}},
		{"Duplicates", bob.ID, []model.MessageID{m1.ID, m1.ID}, []model.Message{m1}},
		{"AllVisible", alice.ID, []model.MessageID{hidden.ID, m1.ID, m2.ID}, []model.Message{m1, hidden, m2}},
		{"NoneReadable", bob.ID, []model.MessageID{hidden.ID}, []model.Message{}},
		{"Empty", bob.ID, nil, []model.Message{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.GetMessages(ctx, tt.actor, tt.ids)
			if err != nil {
				t.Fatalf("GetMessages: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("GetMessages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStore_UpdateMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clk := newStore(t)
	alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")
	ch := mustChannel(t, s, "general", alice.ID, bob.ID)
	m := mustPost(t, s, ch.ID, alice.ID, "helo")
	gone := mustPost(t, s, ch.ID, alice.ID, "oops")
	if _, err := s.DeleteMessage(ctx, alice.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)

	got, err := s.UpdateMessage(ctx, alice.ID, m.ID, "hello")
	if err != nil {
		t.Fatalf("UpdateMessage: %v", err)
	}
	want := m
	// Posts 1 and 2, the delete 3, this edit 4.
	want.Body, want.EditedAt, want.EventSeq = "hello", ptr(t0.Add(time.Minute)), 4
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpdateMessage (-want +got):\n%s", diff)
	}
	read, err := s.GetMessage(ctx, bob.ID, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, read); diff != "" {
		t.Errorf("GetMessage after update (-want +got):\n%s", diff)
	}

	tests := []struct {
		name  string
		actor model.UserID
		id    model.MessageID
		want  model.Code
	}{
		{"ErrNotSender", bob.ID, m.ID, model.EForbidden},
		{"ErrNotMember", carol.ID, m.ID, model.ENotFound},
		{"ErrUnknown", alice.ID, 9999, model.ENotFound},
		{"ErrDeleted", alice.ID, gone.ID, model.EConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpdateMessage(ctx, tt.actor, tt.id, "edited")
			checkCode(t, "UpdateMessage", err, tt.want)
		})
	}
}

func TestStore_DeleteMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clk := newStore(t)
	alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")
	root := mustAdmin(t, s, "root")
	ch := mustChannel(t, s, "general", alice.ID, bob.ID)

	t.Run("BySender", func(t *testing.T) {
		m := mustPost(t, s, ch.ID, alice.ID, "regret")
		clk.Advance(time.Minute)
		got, err := s.DeleteMessage(ctx, alice.ID, m.ID)
		if err != nil {
			t.Fatalf("DeleteMessage: %v", err)
		}
		want := m
		want.Body, want.DeletedAt, want.EventSeq = "", ptr(clk.Now()), m.EventSeq+1
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DeleteMessage (-want +got):\n%s", diff)
		}
		// Twice is not an error, and the first time stays.
		clk.Advance(time.Minute)
		again, err := s.DeleteMessage(ctx, alice.ID, m.ID)
		if err != nil {
			t.Fatalf("DeleteMessage(again): %v", err)
		}
		if diff := cmp.Diff(want, again); diff != "" {
			t.Errorf("DeleteMessage(again) (-want +got):\n%s", diff)
		}
		// The seq stays in the history.
		page, _, err := s.ListMessages(ctx, bob.ID, model.HistoryFilter{ConversationID: ch.ID})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]model.Message{want}, page); diff != "" {
			t.Errorf("history after delete (-want +got):\n%s", diff)
		}
	})

	t.Run("ByAdminNotMember", func(t *testing.T) {
		m := mustPost(t, s, ch.ID, bob.ID, "spam")
		got, err := s.DeleteMessage(ctx, root.ID, m.ID)
		if err != nil {
			t.Fatalf("DeleteMessage(admin): %v", err)
		}
		if got.DeletedAt == nil || got.Body != "" || got.Seq != m.Seq {
			t.Errorf("DeleteMessage(admin): got %+v, want deleted with seq %d", got, m.Seq)
		}
	})

	m := mustPost(t, s, ch.ID, alice.ID, "keep")
	tests := []struct {
		name  string
		actor model.UserID
		id    model.MessageID
		want  model.Code
	}{
		{"ErrNotSender", bob.ID, m.ID, model.EForbidden},
		{"ErrNotMember", carol.ID, m.ID, model.ENotFound},
		{"ErrUnknown", alice.ID, 9999, model.ENotFound},
		{"ErrUnknownAdmin", root.ID, 9999, model.ENotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.DeleteMessage(ctx, tt.actor, tt.id)
			checkCode(t, "DeleteMessage", err, tt.want)
		})
	}
	got, err := s.GetMessage(ctx, alice.ID, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Body != "keep" || got.DeletedAt != nil {
		t.Errorf("after refused deletes: got %+v, want it intact", got)
	}
}
