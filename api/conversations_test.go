package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"parley/model"
)

func TestDirectOpen(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")

	r := alice.post("/api/v1/conversations/direct", map[string]int64{"user_id": bob.ID}).want(http.StatusCreated)
	created := decodeJSON[conversationJSON](r)
	if created.Kind != "direct" || created.Name != nil || created.Topic != nil {
		t.Errorf("got %+v, want a direct conversation without name or topic", created)
	}
	again := decodeJSON[conversationJSON](alice.post("/api/v1/conversations/direct", map[string]int64{"user_id": bob.ID}).want(http.StatusOK))
	back := decodeJSON[conversationJSON](bob.post("/api/v1/conversations/direct", map[string]int64{"user_id": alice.ID}).want(http.StatusOK))
	if again.ID != created.ID || back.ID != created.ID {
		t.Errorf("got ids %d, %d, %d; want one conversation per pair", created.ID, again.ID, back.ID)
	}

	tests := []struct {
		name   string
		req    request
		status int
		code   model.Code
		field  string
	}{
		{"ErrUnknownUser", request{body: `{"user_id": 999999}`}, 404, model.ENotFound, ""},
		{"ErrZero", request{body: `{"user_id": 0}`, invalid: true}, 422, model.EInvalid, "user_id"},
		{"ErrMissing", request{body: `{}`, invalid: true}, 422, model.EInvalid, "user_id"},
		{"ErrString", request{body: `{"user_id": "2"}`, invalid: true}, 422, model.EInvalid, "user_id"},
		{"ErrFraction", request{body: `{"user_id": 1.5}`, invalid: true}, 422, model.EInvalid, "user_id"},
		{"ErrHuge", request{body: `{"user_id": 1e40}`, invalid: true}, 422, model.EInvalid, "user_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.req.method, tt.req.path = http.MethodPost, "/api/v1/conversations/direct"
			alice.in(t).do(tt.req).wantError(tt.status, tt.code, tt.field)
		})
	}
}

// TestDirectPrivacy checks that someone outside a direct conversation can
// neither read nor write it, nor learn that it or its messages exist.
func TestDirectPrivacy(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob, eve := s.register(t, "alice"), s.register(t, "bob"), s.register(t, "eve")
	conv := alice.direct(bob)
	msg := alice.send(conv, "just between us")
	bob.get(fmt.Sprintf("/api/v1/messages/%d", msg.ID)).want(http.StatusOK)

	convPath := fmt.Sprintf("/api/v1/conversations/%d", conv)
	msgPath := fmt.Sprintf("/api/v1/messages/%d", msg.ID)
	tests := []struct {
		name string
		req  request
	}{
		{"GetConversation", request{method: http.MethodGet, path: convPath}},
		{"ListMembers", request{method: http.MethodGet, path: convPath + "/members"}},
		{"History", request{method: http.MethodGet, path: convPath + "/messages"}},
		{"Post", request{method: http.MethodPost, path: convPath + "/messages", body: map[string]string{"body": "hi"}}},
		{"MarkRead", request{method: http.MethodPut, path: convPath + "/read", body: map[string]int64{"seq": 1}}},
		{"Changes", request{method: http.MethodGet, path: convPath + "/changes"}},
		{"GetMessage", request{method: http.MethodGet, path: msgPath}},
		{"EditMessage", request{method: http.MethodPatch, path: msgPath, body: map[string]string{"body": "mine now"}}},
		{"DeleteMessage", request{method: http.MethodDelete, path: msgPath}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eve.in(t).do(tt.req).wantError(http.StatusNotFound, model.ENotFound, "")
		})
	}
	t.Run("Batch", func(t *testing.T) {
		t.Parallel()
		p := decodeJSON[pageJSON[messageJSON]](eve.in(t).get(fmt.Sprintf("/api/v1/messages?ids=%d", msg.ID)).want(http.StatusOK))
		if len(p.Items) != 0 {
			t.Errorf("got %v, want nothing", p.Items)
		}
	})
	t.Run("ListConversations", func(t *testing.T) {
		t.Parallel()
		p := decodeJSON[pageJSON[conversationJSON]](eve.in(t).get("/api/v1/conversations").want(http.StatusOK))
		if len(p.Items) != 0 {
			t.Errorf("got %v, want nothing", p.Items)
		}
	})
}

func TestConversations(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	general := alice.channel("general")
	bob.put(fmt.Sprintf("/api/v1/channels/%d/members/me", general), nil).want(http.StatusOK)
	direct := alice.direct(bob)
	for range 3 {
		alice.send(direct, "hello")
	}
	bob.send(general, "hi all")

	list := func(t *testing.T, u *user) map[int64]conversationJSON {
		t.Helper()
		p := decodeJSON[pageJSON[conversationJSON]](u.in(t).get("/api/v1/conversations").want(http.StatusOK))
		m := map[int64]conversationJSON{}
		for _, c := range p.Items {
			m[c.ID] = c
		}
		return m
	}
	got := list(t, bob)
	if len(got) != 2 || got[direct].LastSeq != 3 || got[direct].UnreadCount != 3 || got[general].LastSeq != 1 || got[general].UnreadCount != 0 {
		t.Fatalf("got %+v; want direct at seq 3 with 3 unread, general at 1 with none (bob's own)", got)
	}

	read := fmt.Sprintf("/api/v1/conversations/%d/read", direct)
	bob.put(read, map[string]int64{"seq": 2}).want(http.StatusNoContent)
	if got := list(t, bob)[direct].UnreadCount; got != 1 {
		t.Errorf("got %d unread after reading to 2, want 1", got)
	}
	bob.put(read, map[string]int64{"seq": 1}).want(http.StatusNoContent) // never moves back
	if got := list(t, bob)[direct].UnreadCount; got != 1 {
		t.Errorf("got %d unread after reading to 1, want still 1", got)
	}
	bob.put(read, map[string]int64{"seq": 4}).wantError(http.StatusUnprocessableEntity, model.EInvalid, "seq")
	bob.do(request{method: http.MethodPut, path: read, body: `{"seq": -1}`, invalid: true}).wantError(http.StatusUnprocessableEntity, model.EInvalid, "seq")
	bob.do(request{method: http.MethodPut, path: read, body: `{}`, invalid: true}).wantError(http.StatusUnprocessableEntity, model.EInvalid, "seq")

	one := decodeJSON[conversationJSON](bob.get(fmt.Sprintf("/api/v1/conversations/%d", direct)).want(http.StatusOK))
	if one.ID != direct || one.LastSeq != 3 || one.UnreadCount != 1 {
		t.Errorf("got %+v, want direct at seq 3 with 1 unread", one)
	}
	members := decodeJSON[pageJSON[memberJSON]](bob.get(fmt.Sprintf("/api/v1/conversations/%d/members", direct)).want(http.StatusOK))
	if len(members.Items) != 2 || members.Items[0].Username != "alice" || members.Items[1].Username != "bob" || members.Items[0].JoinedAt.IsZero() {
		t.Errorf("got %+v, want alice and bob with joined_at", members.Items)
	}
	bob.get("/api/v1/conversations/999999").wantError(http.StatusNotFound, model.ENotFound, "")
}

func TestConversationList(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	var want []int64
	for i := range 5 {
		want = append(want, alice.channel(fmt.Sprintf("ch%d", i)))
	}
	dm := alice.direct(bob)
	want = append(want, dm)
	bob.send(dm, "hi")
	alice.send(want[0], "mine")

	var got []conversationJSON
	path := "/api/v1/conversations?limit=2"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("more pages than 6 conversations in pages of 2 need")
		}
		p := decodeJSON[pageJSON[conversationJSON]](alice.get(path).want(http.StatusOK))
		got = append(got, p.Items...)
		if !p.HasMore {
			if p.NextCursor != "" {
				t.Errorf("last page: got next_cursor %q, want none", p.NextCursor)
			}
			break
		}
		path = "/api/v1/conversations?limit=2&cursor=" + p.NextCursor
	}
	var ids []int64
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("paged ids: got %v, want %v (by id)", ids, want)
	}
	if c := got[0]; c.LastSeq != 1 || c.LastEventSeq != 1 || c.ReadSeq != 1 || c.UnreadCount != 0 || c.LastMessageAt == nil {
		t.Errorf("channel alice posted in: got %+v, want last_seq 1, last_event_seq 1, read_seq 1, unread 0, last_message_at set", c)
	}
	if c := got[1]; c.LastMessageAt != nil || c.LastEventSeq != 0 {
		t.Errorf("empty channel: got %+v, want no last_message_at, last_event_seq 0", c)
	}
	if c := got[5]; c.LastSeq != 1 || c.ReadSeq != 0 || c.UnreadCount != 1 {
		t.Errorf("direct conversation bob wrote in: got %+v, want last_seq 1, read_seq 0, unread 1", c)
	}

	for _, tt := range []struct {
		name, query, field string
	}{
		{"ErrLimitZero", "limit=0", "limit"},
		{"ErrLimitTooBig", "limit=501", "limit"},
		{"ErrCursorGarbage", "cursor=!!!", "cursor"},
		{"ErrCursorNotOurs", "cursor=bm9wZQ", "cursor"}, // "nope"
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			alice.in(t).do(request{method: http.MethodGet, path: "/api/v1/conversations?" + tt.query, invalid: true}).
				wantError(http.StatusUnprocessableEntity, model.EInvalid, tt.field)
		})
	}
	t.Run("Limit500", func(t *testing.T) {
		t.Parallel()
		alice.in(t).get("/api/v1/conversations?limit=500").want(http.StatusOK)
	})
}

func TestChangeList(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob, eve := s.register(t, "alice"), s.register(t, "bob"), s.register(t, "eve")
	conv := alice.direct(bob)
	path := fmt.Sprintf("/api/v1/conversations/%d/changes", conv)

	empty := decodeJSON[pageJSON[changeJSON]](bob.get(path).want(http.StatusOK))
	if len(empty.Items) != 0 || empty.HasMore {
		t.Errorf("no changes yet: got %+v, want an empty page", empty)
	}

	m1 := alice.send(conv, "one")                                                                                 // 1
	m2 := bob.send(conv, "two")                                                                                   // 2
	m3 := alice.send(conv, "three")                                                                               // 3
	alice.patch(fmt.Sprintf("/api/v1/messages/%d", m1.ID), map[string]string{"body": "one!"}).want(http.StatusOK) // 4
	bob.delete(fmt.Sprintf("/api/v1/messages/%d", m2.ID)).want(http.StatusOK)                                     // 5
	bob.delete(fmt.Sprintf("/api/v1/messages/%d", m2.ID)).want(http.StatusOK)                                     // again: no change

	all := []changeJSON{
		{3, "message.created", m3.ID, 3},
		{4, "message.updated", m1.ID, 1},
		{5, "message.deleted", m2.ID, 2},
	}
	conversation := decodeJSON[conversationJSON](bob.get(fmt.Sprintf("/api/v1/conversations/%d", conv)).want(http.StatusOK))
	if conversation.LastEventSeq != 5 {
		t.Errorf("last_event_seq: got %d, want 5", conversation.LastEventSeq)
	}
	tests := []struct {
		name  string
		query string
		want  []changeJSON
		more  bool
	}{
		{"All", "", all, false},
		{"After", "?after=3", all[1:], false},
		{"Limit", "?limit=2", all[:2], true},
		{"LimitAfter", "?after=3&limit=1", all[1:2], true},
		{"AtTheEnd", "?after=5", []changeJSON{}, false},
		{"Beyond", "?after=500", []changeJSON{}, false},
		{"Limit1000", "?limit=1000", all, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := decodeJSON[pageJSON[changeJSON]](bob.in(t).get(path + tt.query).want(http.StatusOK))
			if fmt.Sprint(got.Items) != fmt.Sprint(tt.want) || got.HasMore != tt.more {
				t.Errorf("GET changes%s: got %v, more %v; want %v, more %v", tt.query, got.Items, got.HasMore, tt.want, tt.more)
			}
		})
	}
	for _, tt := range []struct {
		name, query, field string
	}{
		{"ErrAfterNegative", "?after=-1", "after"},
		{"ErrAfterText", "?after=x", "after"},
		{"ErrLimitZero", "?limit=0", "limit"},
		{"ErrLimitTooBig", "?limit=1001", "limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bob.in(t).do(request{method: http.MethodGet, path: path + tt.query, invalid: true}).
				wantError(http.StatusUnprocessableEntity, model.EInvalid, tt.field)
		})
	}
	t.Run("ErrNotMember", func(t *testing.T) {
		t.Parallel()
		eve.in(t).get(path).wantError(http.StatusNotFound, model.ENotFound, "")
		eve.in(t).get("/api/v1/conversations/999999/changes").wantError(http.StatusNotFound, model.ENotFound, "")
	})
}
