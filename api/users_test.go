package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"parley/model"
)

func TestUserGet(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")

	got := decodeJSON[userJSON](alice.get(fmt.Sprintf("/api/v1/users/%d", bob.ID)).want(http.StatusOK))
	if got.ID != bob.ID || got.Username != "bob" {
		t.Errorf("got %+v, want bob", got)
	}
	for _, id := range []string{"999999", "0", "-1", "abc", "1.5", "99999999999999999999"} {
		t.Run("ErrNotFound/"+id, func(t *testing.T) {
			t.Parallel()
			alice.in(t).do(request{method: http.MethodGet, path: "/api/v1/users/" + id, invalid: id != "999999"}).
				wantError(http.StatusNotFound, model.ENotFound, "")
		})
	}
	t.Run("ErrUnauthenticated", func(t *testing.T) {
		t.Parallel()
		s.client(t).get(fmt.Sprintf("/api/v1/users/%d", bob.ID)).wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
	})
}

func TestUserList(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	var names []string
	for i := range 7 {
		names = append(names, fmt.Sprintf("user%d", i))
	}
	names = append(names, "zed")
	var me *user
	for _, n := range names {
		me = s.register(t, n)
	}

	t.Run("PagesByCursor", func(t *testing.T) {
		t.Parallel()
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("too many pages")
			}
			p := decodeJSON[pageJSON[userJSON]](me.in(t).get("/api/v1/users?q=user&limit=3&cursor=" + url.QueryEscape(cursor)).want(http.StatusOK))
			for _, u := range p.Items {
				got = append(got, u.Username)
			}
			if !p.HasMore {
				if p.NextCursor != "" {
					t.Errorf("got next_cursor %q on the last page, want none", p.NextCursor)
				}
				break
			}
			cursor = p.NextCursor
		}
		if want := strings.Join(names[:7], ","); strings.Join(got, ",") != want {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("DefaultLimitAndEmptyQuery", func(t *testing.T) {
		t.Parallel()
		p := decodeJSON[pageJSON[userJSON]](me.in(t).get("/api/v1/users").want(http.StatusOK))
		if len(p.Items) != len(names) || p.HasMore {
			t.Errorf("got %d users (has_more %v), want all %d", len(p.Items), p.HasMore, len(names))
		}
	})
	t.Run("NoMatch", func(t *testing.T) {
		t.Parallel()
		p := decodeJSON[pageJSON[userJSON]](me.in(t).get("/api/v1/users?q=nobody").want(http.StatusOK))
		if p.Items == nil || len(p.Items) != 0 {
			t.Errorf("got %v, want an empty list", p.Items)
		}
	})

	tests := []struct {
		name, query, field string
	}{
		{"ErrLimitZero", "limit=0", "limit"},
		{"ErrLimitNegative", "limit=-1", "limit"},
		{"ErrLimitTooBig", "limit=101", "limit"},
		{"ErrLimitNotANumber", "limit=ten", "limit"},
		{"ErrCursorGarbage", "cursor=%25%25%25", "cursor"},
		{"ErrCursorNotBase64", "cursor=a.b", "cursor"},
		{"ErrQueryTooLong", "q=" + strings.Repeat("a", 65), "q"},
		{"ErrQueryNotUTF8", "q=%FF", "q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			me.in(t).do(request{method: http.MethodGet, path: "/api/v1/users?" + tt.query, invalid: true}).
				wantError(http.StatusUnprocessableEntity, model.EInvalid, tt.field)
		})
	}
}
