package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"parley/model"
)

func TestChannelCreate(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice := s.register(t, "alice")

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		r := alice.in(t).post("/api/v1/channels", map[string]string{"name": " General ", "topic": " Anything goes "}).want(http.StatusCreated)
		got := decodeJSON[conversationJSON](r)
		if got.Kind != "channel" || got.Name == nil || *got.Name != "General" || got.Topic == nil || *got.Topic != "Anything goes" {
			t.Errorf("got %+v, want channel General with its topic, trimmed", got)
		}
		// The creator is a member.
		alice.in(t).get(fmt.Sprintf("/api/v1/conversations/%d", got.ID)).want(http.StatusOK)
	})
	t.Run("ErrNameTakenAnyCase", func(t *testing.T) {
		t.Parallel()
		alice.in(t).channel("random")
		alice.in(t).post("/api/v1/channels", map[string]string{"name": "RANDOM"}).wantError(http.StatusConflict, model.EConflict, "")
	})

	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"ErrNameMissing", `{"topic": "x"}`, "name"},
		{"ErrNameBlank", `{"name": "   "}`, "name"},
		{"ErrNameSpace", `{"name": "two words"}`, "name"},
		{"ErrNameDash", `{"name": "-dash"}`, "name"},
		{"ErrTopicControl", `{"name": "ok", "topic": "a\nb"}`, "topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			alice.in(t).do(request{method: http.MethodPost, path: "/api/v1/channels", body: tt.body, invalid: true}).
				wantError(http.StatusUnprocessableEntity, model.EInvalid, tt.field)
		})
	}
}

func TestChannelList(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	for _, name := range []string{"Alpha", "beta", "Gamma", "delta-team", "epsilon"} {
		alice.channel(name)
	}
	bob.channel("bobs")

	var got []channelJSON
	cursor := ""
	for {
		p := decodeJSON[pageJSON[channelJSON]](bob.get("/api/v1/channels?limit=2&cursor=" + url.QueryEscape(cursor)).want(http.StatusOK))
		got = append(got, p.Items...)
		if !p.HasMore {
			break
		}
		cursor = p.NextCursor
	}
	var names []string
	for _, c := range got {
		names = append(names, c.Name)
		if wantMember := c.Name == "bobs"; c.IsMember != wantMember || c.MemberCount != 1 || c.Kind != "channel" {
			t.Errorf("got %+v, want one member, is_member %v", c, wantMember)
		}
	}
	if want := fmt.Sprint([]string{"Alpha", "beta", "bobs", "delta-team", "epsilon", "Gamma"}); fmt.Sprint(names) != want {
		t.Errorf("got %v, want %v (ordered by name, ignoring case)", names, want)
	}

	p := decodeJSON[pageJSON[channelJSON]](bob.get("/api/v1/channels?q=TA").want(http.StatusOK))
	if len(p.Items) != 2 || p.Items[0].Name != "beta" || p.Items[1].Name != "delta-team" {
		t.Errorf("got %+v for q=TA, want beta and delta-team", p.Items)
	}
	bob.do(request{method: http.MethodGet, path: "/api/v1/channels?cursor=!", invalid: true}).
		wantError(http.StatusUnprocessableEntity, model.EInvalid, "cursor")
}

func TestChannelMembership(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	general := alice.channel("general")
	path := fmt.Sprintf("/api/v1/channels/%d/members/me", general)
	conv := fmt.Sprintf("/api/v1/conversations/%d", general)

	bob.get(conv).wantError(http.StatusNotFound, model.ENotFound, "")
	got := decodeJSON[conversationJSON](bob.put(path, nil).want(http.StatusOK))
	if got.ID != general || got.Kind != "channel" {
		t.Errorf("got %+v, want the channel", got)
	}
	bob.put(path, nil).want(http.StatusOK) // joining twice is fine
	bob.get(conv).want(http.StatusOK)
	members := decodeJSON[pageJSON[memberJSON]](bob.get(conv + "/members").want(http.StatusOK))
	if len(members.Items) != 2 {
		t.Errorf("got %d members, want 2", len(members.Items))
	}
	bob.delete(path).want(http.StatusNoContent)
	bob.delete(path).want(http.StatusNoContent) // leaving twice is fine
	bob.get(conv).wantError(http.StatusNotFound, model.ENotFound, "")

	t.Run("ErrNotAChannel", func(t *testing.T) {
		t.Parallel()
		direct := alice.in(t).direct(bob)
		carol := s.register(t, "carol")
		carol.put(fmt.Sprintf("/api/v1/channels/%d/members/me", direct), nil).wantError(http.StatusNotFound, model.ENotFound, "")
		carol.put("/api/v1/channels/999999/members/me", nil).wantError(http.StatusNotFound, model.ENotFound, "")
		carol.delete("/api/v1/channels/999999/members/me").wantError(http.StatusNotFound, model.ENotFound, "")
	})
}
