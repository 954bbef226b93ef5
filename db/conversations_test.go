package db_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"parley/model"
)

func TestStore_CreateChannel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice := mustUser(t, s, "alice")

	got, err := s.CreateChannel(ctx, alice.ID, model.NewChannel{Name: " General ", Topic: " chat "})
	if err != nil {
		t.Fatalf("CreateChannel: %v", err)
	}
	want := model.Conversation{ID: got.ID, Kind: model.KindChannel, Name: "General", Topic: "chat", CreatedAt: t0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateChannel (-want +got):\n%s", diff)
	}
	// The creator is a member and sees the same conversation.
	read, err := s.GetConversation(ctx, alice.ID, got.ID)
	if err != nil {
		t.Fatalf("GetConversation: %v", err)
	}
	if diff := cmp.Diff(got, read); diff != "" {
		t.Errorf("GetConversation (-created +read):\n%s", diff)
	}

	tests := []struct {
		name string
		c    model.NewChannel
		want model.Code
	}{
		{"ErrNameTakenSameCase", model.NewChannel{Name: "General"}, model.EConflict},
		{"ErrNameTakenOtherCase", model.NewChannel{Name: "gENERAL"}, model.EConflict},
		{"ErrNameEmpty", model.NewChannel{Name: "  "}, model.EInvalid},
		{"ErrNameBadCharacter", model.NewChannel{Name: "a b"}, model.EInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateChannel(ctx, alice.ID, tt.c)
			checkCode(t, "CreateChannel("+tt.c.Name+")", err, tt.want)
		})
	}
}

func TestStore_ListChannels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	ids := map[string]model.ConversationID{}
	for _, name := range []string{"general", "Random", "go_lang", "golang", "help"} {
		ids[name] = mustChannel(t, s, name, alice.ID).ID
	}
	mustChannel(t, s, "bobs", bob.ID, alice.ID)
	if _, _, err := s.GetOrCreateDirect(ctx, alice.ID, bob.ID); err != nil { // not listed
		t.Fatal(err)
	}

	names := func(cs []model.Channel) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	tests := []struct {
		name     string
		f        model.ChannelFilter
		want     []string
		wantMore bool
	}{
		{"All", model.ChannelFilter{}, []string{"bobs", "general", "go_lang", "golang", "help", "Random"}, false},
		{"Substring", model.ChannelFilter{Query: "LAN"}, []string{"go_lang", "golang"}, false},
		{"UnderscoreIsLiteral", model.ChannelFilter{Query: "o_l"}, []string{"go_lang"}, false},
		{"NoMatch", model.ChannelFilter{Query: "zzz"}, []string{}, false},
		{"Limit", model.ChannelFilter{Limit: 2}, []string{"bobs", "general"}, true},
		{"After", model.ChannelFilter{After: "General", Limit: 3}, []string{"go_lang", "golang", "help"}, true},
		{"LastPage", model.ChannelFilter{After: "help", Limit: 3}, []string{"Random"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more, err := s.ListChannels(ctx, bob.ID, tt.f)
			if err != nil {
				t.Fatalf("ListChannels(%+v): %v", tt.f, err)
			}
			if diff := cmp.Diff(tt.want, names(got)); diff != "" {
				t.Errorf("ListChannels(%+v) (-want +got):\n%s", tt.f, diff)
			}
			if more != tt.wantMore {
				t.Errorf("ListChannels(%+v) has_more: got %v, want %v", tt.f, more, tt.wantMore)
			}
		})
	}

	t.Run("MembershipFields", func(t *testing.T) {
		got, _, err := s.ListChannels(ctx, bob.ID, model.ChannelFilter{Query: "b"})
		if err != nil {
			t.Fatal(err)
		}
		want := []model.Channel{{Name: "bobs", CreatedAt: t0, MemberCount: 2, IsMember: true}}
		if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".ID" }, cmp.Ignore())); diff != "" {
			t.Errorf("ListChannels (-want +got):\n%s", diff)
		}
		got, _, err = s.ListChannels(ctx, bob.ID, model.ChannelFilter{Query: "help"})
		if err != nil {
			t.Fatal(err)
		}
		want = []model.Channel{{ID: ids["help"], Name: "help", CreatedAt: t0, MemberCount: 1, IsMember: false}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListChannels (-want +got):\n%s", diff)
		}
	})
}

func TestStore_JoinChannel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	ch := mustChannel(t, s, "general", alice.ID)
	mustPost(t, s, ch.ID, alice.ID, "before bob")

	for i := range 2 { // twice is not an error, but only the first joins
		got, joined, err := s.JoinChannel(ctx, bob.ID, ch.ID)
		if err != nil {
			t.Fatalf("JoinChannel #%d: %v", i+1, err)
		}
		if joined != (i == 0) {
			t.Errorf("JoinChannel #%d: got joined %v, want %v", i+1, joined, i == 0)
		}
		// What was said before joining is not unread.
		want := model.Conversation{ID: ch.ID, Kind: model.KindChannel, Name: "general", CreatedAt: t0, LastSeq: 1,
			LastEventSeq: 1, LastMessageAt: ptr(t0), ReadSeq: 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("JoinChannel #%d (-want +got):\n%s", i+1, diff)
		}
	}
	mustPost(t, s, ch.ID, alice.ID, "after bob")
	got, err := s.GetConversation(ctx, bob.ID, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.UnreadCount != 1 {
		t.Errorf("UnreadCount after one new message: got %d, want 1", got.UnreadCount)
	}

	direct, _, err := s.GetOrCreateDirect(ctx, alice.ID, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	carol := mustUser(t, s, "carol")
	_, _, err = s.JoinChannel(ctx, carol.ID, direct.ID)
	checkCode(t, "JoinChannel(direct, outsider)", err, model.ENotFound)
	_, _, err = s.JoinChannel(ctx, alice.ID, direct.ID)
	checkCode(t, "JoinChannel(direct, member)", err, model.ENotFound)
	_, _, err = s.JoinChannel(ctx, bob.ID, 9999)
	checkCode(t, "JoinChannel(unknown)", err, model.ENotFound)
}

func TestStore_LeaveChannel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	ch := mustChannel(t, s, "general", alice.ID, bob.ID)

	for i := range 2 { // twice is not an error, but only the first leaves
		left, err := s.LeaveChannel(ctx, bob.ID, ch.ID)
		if err != nil {
			t.Fatalf("LeaveChannel #%d: %v", i+1, err)
		}
		if left != (i == 0) {
			t.Errorf("LeaveChannel #%d: got left %v, want %v", i+1, left, i == 0)
		}
	}
	_, err := s.GetConversation(ctx, bob.ID, ch.ID)
	checkCode(t, "GetConversation after leaving", err, model.ENotFound)
	if _, err := s.GetConversation(ctx, alice.ID, ch.ID); err != nil {
		t.Errorf("GetConversation by a remaining member: got %v, want nil", err)
	}

	_, err = s.LeaveChannel(ctx, bob.ID, 9999)
	checkCode(t, "LeaveChannel(unknown)", err, model.ENotFound)
	direct, _, err := s.GetOrCreateDirect(ctx, alice.ID, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.LeaveChannel(ctx, bob.ID, direct.ID)
	checkCode(t, "LeaveChannel(direct)", err, model.ENotFound)
	if _, err := s.GetConversation(ctx, bob.ID, direct.ID); err != nil {
		t.Errorf("GetConversation(direct) after trying to leave it: got %v, want nil", err)
	}
}

func TestStore_GetOrCreateDirect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")

	t.Run("CreatedOnceEitherWay", func(t *testing.T) {
		c, created, err := s.GetOrCreateDirect(ctx, alice.ID, bob.ID)
		if err != nil {
			t.Fatalf("GetOrCreateDirect: %v", err)
		}
		want := model.Conversation{ID: c.ID, Kind: model.KindDirect, CreatedAt: t0}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("GetOrCreateDirect (-want +got):\n%s", diff)
		}
		if !created {
			t.Errorf("created: got false, want true")
		}
		again, created, err := s.GetOrCreateDirect(ctx, bob.ID, alice.ID)
		if err != nil {
			t.Fatalf("GetOrCreateDirect(reversed): %v", err)
		}
		if created || again.ID != c.ID {
			t.Errorf("GetOrCreateDirect(reversed): got (id %d, created %v), want (id %d, false)", again.ID, created, c.ID)
		}
		members, _, err := s.ListMembers(ctx, bob.ID, c.ID, model.MemberFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(members); got != 2 {
			t.Errorf("members: got %d, want 2", got)
		}
		_, err = s.GetConversation(ctx, carol.ID, c.ID)
		checkCode(t, "GetConversation(direct, outsider)", err, model.ENotFound)
	})

	t.Run("Self", func(t *testing.T) {
		c, created, err := s.GetOrCreateDirect(ctx, carol.ID, carol.ID)
		if err != nil {
			t.Fatalf("GetOrCreateDirect(self): %v", err)
		}
		if !created {
			t.Errorf("created: got false, want true")
		}
		members, _, err := s.ListMembers(ctx, carol.ID, c.ID, model.MemberFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(members) != 1 || members[0].User.ID != carol.ID {
			t.Errorf("members of a note to self: got %+v, want carol alone", members)
		}
	})

	t.Run("ErrUnknownUser", func(t *testing.T) {
		_, _, err := s.GetOrCreateDirect(ctx, alice.ID, 9999)
		checkCode(t, "GetOrCreateDirect(unknown)", err, model.ENotFound)
	})

	t.Run("Concurrent", func(t *testing.T) {
		dave, erin := mustUser(t, s, "dave"), mustUser(t, s, "erin")
		const n = 16
		ids := make([]model.ConversationID, n)
		created := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				a, b := dave.ID, erin.ID
				if i%2 == 1 {
					a, b = b, a
				}
				var c model.Conversation
				c, created[i], errs[i] = s.GetOrCreateDirect(ctx, a, b)
				ids[i] = c.ID
			})
		}
		wg.Wait()
		nCreated := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("GetOrCreateDirect #%d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Errorf("GetOrCreateDirect #%d: got conversation %d, want %d like #0", i, ids[i], ids[0])
			}
			if created[i] {
				nCreated++
			}
		}
		if nCreated != 1 {
			t.Errorf("calls that created it: got %d, want 1", nCreated)
		}
	})
}

func TestStore_ListConversations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clk := newStore(t)
	alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")

	general := mustChannel(t, s, "general", alice.ID, bob.ID)
	clk.Advance(time.Minute)
	random := mustChannel(t, s, "random", bob.ID, alice.ID)
	clk.Advance(time.Minute)
	direct, _, err := s.GetOrCreateDirect(ctx, bob.ID, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustChannel(t, s, "elsewhere", carol.ID) // alice is not in it
	clk.Advance(time.Minute)

	// In general: 2 from bob, then alice's own (which moves her marker to
	// 3), then 2 more from bob, one of them deleted: 1 unread.
	mustPost(t, s, general.ID, bob.ID, "one")
	mustPost(t, s, general.ID, bob.ID, "two")
	mustPost(t, s, general.ID, alice.ID, "mine")
	deleted := mustPost(t, s, general.ID, bob.ID, "three")
	mustPost(t, s, general.ID, bob.ID, "four")
	if _, err := s.DeleteMessage(ctx, bob.ID, deleted.ID); err != nil {
		t.Fatal(err)
	}
	postedAt := t0.Add(3 * time.Minute)

	got, more, err := s.ListConversations(ctx, alice.ID, model.ConversationFilter{})
	if err != nil {
		t.Fatalf("ListConversations: %v", err)
	}
	want := []model.Conversation{
		{ID: general.ID, Kind: model.KindChannel, Name: "general", CreatedAt: t0, LastSeq: 5, LastEventSeq: 6,
			LastMessageAt: &postedAt, ReadSeq: 3, UnreadCount: 1},
		{ID: random.ID, Kind: model.KindChannel, Name: "random", CreatedAt: t0.Add(time.Minute)},
		{ID: direct.ID, Kind: model.KindDirect, CreatedAt: t0.Add(2 * time.Minute)},
	}
	if diff := cmp.Diff(want, got); diff != "" || more {
		t.Errorf("ListConversations: more %v (-want +got):\n%s", more, diff)
	}

	if _, err := s.MarkRead(ctx, alice.ID, general.ID, 4); err != nil {
		t.Fatal(err)
	}
	got, _, err = s.ListConversations(ctx, alice.ID, model.ConversationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if g := got[0]; g.ReadSeq != 4 || g.UnreadCount != 1 {
		t.Errorf("after reading to 4: got read_seq %d, unread %d; want 4, 1", g.ReadSeq, g.UnreadCount)
	}

	t.Run("Pages", func(t *testing.T) {
		var ids []model.ConversationID
		f := model.ConversationFilter{Limit: 2}
		for range 3 {
			page, more, err := s.ListConversations(ctx, alice.ID, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page {
				ids = append(ids, c.ID)
			}
			if !more {
				break
			}
			f.After = page[len(page)-1].ID
		}
		if diff := cmp.Diff([]model.ConversationID{general.ID, random.ID, direct.ID}, ids); diff != "" {
			t.Errorf("paged ids (-want +got):\n%s", diff)
		}
	})

	none, more, err := s.ListConversations(ctx, mustUser(t, s, "dave").ID, model.ConversationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(none) != 0 || more {
		t.Errorf("ListConversations(no memberships): got %v, %v; want none", none, more)
	}
}

func TestStore_GetConversation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	ch := mustChannel(t, s, "general", alice.ID)

	tests := []struct {
		name  string
		actor model.UserID
		id    model.ConversationID
		want  model.Code
	}{
		{"Member", alice.ID, ch.ID, ""},
		{"ErrNotMember", bob.ID, ch.ID, model.ENotFound},
		{"ErrUnknown", alice.ID, 9999, model.ENotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.GetConversation(ctx, tt.actor, tt.id)
			checkCode(t, "GetConversation", err, tt.want)
		})
	}
}

func TestStore_ListMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clk := newStore(t)
	bob := mustUser(t, s, "bob")
	alice := mustUser(t, s, "Alice")
	carol := mustUser(t, s, "carol")
	dave := mustUser(t, s, "dave")
	ch := mustChannel(t, s, "general", carol.ID)
	clk.Advance(time.Minute)
	for _, u := range []model.UserID{bob.ID, alice.ID} {
		if _, _, err := s.JoinChannel(ctx, u, ch.ID); err != nil {
			t.Fatal(err)
		}
	}

	got, more, err := s.ListMembers(ctx, bob.ID, ch.ID, model.MemberFilter{})
	if err != nil {
		t.Fatalf("ListMembers: %v", err)
	}
	want := []model.Member{
		{User: alice, JoinedAt: t0.Add(time.Minute)},
		{User: bob, JoinedAt: t0.Add(time.Minute)},
		{User: carol, JoinedAt: t0},
	}
	if diff := cmp.Diff(want, got); diff != "" || more {
		t.Errorf("ListMembers: more %v, want false (-want +got):\n%s", more, diff)
	}

	// Paged two at a time: the cursor is the last lowercased username.
	page1, more, err := s.ListMembers(ctx, bob.ID, ch.ID, model.MemberFilter{Limit: 2})
	if err != nil || !more || len(page1) != 2 || page1[1].User.ID != bob.ID {
		t.Fatalf("ListMembers(limit 2): got %d members, more %v, %v; want alice and bob, more", len(page1), more, err)
	}
	page2, more, err := s.ListMembers(ctx, bob.ID, ch.ID, model.MemberFilter{After: "bob", Limit: 2})
	if err != nil || more || len(page2) != 1 || page2[0].User.ID != carol.ID {
		t.Fatalf("ListMembers(after bob): got %+v, more %v, %v; want carol alone, no more", page2, more, err)
	}
	past, more, err := s.ListMembers(ctx, bob.ID, ch.ID, model.MemberFilter{After: "carol"})
	if err != nil || more || len(past) != 0 {
		t.Errorf("ListMembers(past the end): got %d members, more %v, %v; want none, no error", len(past), more, err)
	}

	_, _, err = s.ListMembers(ctx, dave.ID, ch.ID, model.MemberFilter{})
	checkCode(t, "ListMembers(not a member)", err, model.ENotFound)
	_, _, err = s.ListMembers(ctx, dave.ID, ch.ID, model.MemberFilter{After: "zzz"})
	checkCode(t, "ListMembers(not a member, past the end)", err, model.ENotFound)
	_, _, err = s.ListMembers(ctx, bob.ID, 9999, model.MemberFilter{})
	checkCode(t, "ListMembers(unknown)", err, model.ENotFound)
}

func TestStore_MarkRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")
	ch := mustChannel(t, s, "general", alice.ID, bob.ID)
	for range 5 {
		mustPost(t, s, ch.ID, alice.ID, "hello")
	}

	unread := func() int64 {
		t.Helper()
		c, err := s.GetConversation(ctx, bob.ID, ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		return c.UnreadCount
	}

	tests := []struct {
		name       string
		actor      model.UserID
		seq        int64
		want       model.Code
		wantMoved  bool
		wantUnread int64
	}{
		{"Forward", bob.ID, 3, "", true, 2},
		{"Same", bob.ID, 3, "", false, 2},
		{"NeverBack", bob.ID, 1, "", false, 2},
		{"Zero", bob.ID, 0, "", false, 2},
		{"ToLast", bob.ID, 5, "", true, 0},
		{"ErrBeyondLast", bob.ID, 6, model.EInvalid, false, 0},
		{"ErrNegative", bob.ID, -1, model.EInvalid, false, 0},
		{"ErrNotMember", carol.ID, 1, model.ENotFound, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			moved, err := s.MarkRead(ctx, tt.actor, ch.ID, tt.seq)
			checkCode(t, "MarkRead", err, tt.want)
			if moved != tt.wantMoved {
				t.Errorf("MarkRead(%d): got moved %v, want %v", tt.seq, moved, tt.wantMoved)
			}
			if tt.want == model.EInvalid {
				var e *model.Error
				if !errors.As(err, &e) || e.Fields["seq"] == "" {
					t.Errorf("MarkRead(%d): got %v, want a problem with field seq", tt.seq, err)
				}
			}
			if got := unread(); got != tt.wantUnread {
				t.Errorf("unread after MarkRead(%d): got %d, want %d", tt.seq, got, tt.wantUnread)
			}
		})
	}
	_, err := s.MarkRead(ctx, bob.ID, 9999, 0)
	checkCode(t, "MarkRead(unknown conversation)", err, model.ENotFound)
}

func TestStore_ConversationIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")
	general := mustChannel(t, s, "general", alice.ID, bob.ID)
	random := mustChannel(t, s, "random", bob.ID)
	direct, _, err := s.GetOrCreateDirect(ctx, bob.ID, carol.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LeaveChannel(ctx, alice.ID, general.ID); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		user model.UserID
		want []model.ConversationID
	}{
		{"Several", bob.ID, []model.ConversationID{general.ID, random.ID, direct.ID}},
		{"Direct", carol.ID, []model.ConversationID{direct.ID}},
		{"LeftAll", alice.ID, []model.ConversationID{}},
		{"NoSuchUser", 9999, []model.ConversationID{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ConversationIDs(ctx, tt.user)
			if err != nil {
				t.Fatalf("ConversationIDs(%d): %v", tt.user, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ConversationIDs(%d) (-want +got):\n%s", tt.user, diff)
			}
		})
	}
}

func TestStore_MemberCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")
	general := mustChannel(t, s, "general", alice.ID, bob.ID, carol.ID)
	random := mustChannel(t, s, "random", bob.ID)
	empty := mustChannel(t, s, "empty", alice.ID)
	if _, err := s.LeaveChannel(ctx, alice.ID, general.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LeaveChannel(ctx, alice.ID, empty.ID); err != nil {
		t.Fatal(err)
	}
	direct, _, err := s.GetOrCreateDirect(ctx, bob.ID, carol.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.MemberCounts(ctx, []model.ConversationID{general.ID, random.ID, empty.ID, direct.ID, 9999})
	if err != nil {
		t.Fatal(err)
	}
	want := map[model.ConversationID]int{general.ID: 2, random.ID: 1, direct.ID: 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MemberCounts (-want +got):\n%s", diff)
	}
	if got, err := s.MemberCounts(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("MemberCounts(none) = %v, %v; want nothing", got, err)
	}
}
