package db_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"parley/model"
)

func TestStore_CreateUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)

	t.Run("OK", func(t *testing.T) {
		got, err := s.CreateUser(ctx, model.NewUser{Username: "Alice", DisplayName: "Alice A.", PasswordHash: "h"})
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		want := model.User{ID: got.ID, Username: "Alice", DisplayName: "Alice A.", CreatedAt: t0}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CreateUser (-want +got):\n%s", diff)
		}
		if got.ID <= 0 {
			t.Errorf("ID: got %d, want > 0", got.ID)
		}
		read, err := s.GetUser(ctx, got.ID)
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		if diff := cmp.Diff(got, read); diff != "" {
			t.Errorf("GetUser (-created +read):\n%s", diff)
		}
	})

	t.Run("DisplayNameDefaultsToUsername", func(t *testing.T) {
		got, err := s.CreateUser(ctx, model.NewUser{Username: "bob", PasswordHash: "h"})
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if got.DisplayName != "bob" {
			t.Errorf("DisplayName: got %q, want %q", got.DisplayName, "bob")
		}
	})

	t.Run("Admin", func(t *testing.T) {
		got, err := s.CreateUser(ctx, model.NewUser{Username: "root", PasswordHash: "h", IsAdmin: true})
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if !got.IsAdmin {
			t.Errorf("IsAdmin: got false, want true")
		}
	})

	tests := []struct {
		name     string
		username string
		want     model.Code
	}{
		{"ErrTakenSameCase", "Alice", model.EConflict},
		{"ErrTakenOtherCase", "aLiCe", model.EConflict},
		{"ErrUsernameTooShort", "al", model.EInvalid},
		{"ErrUsernameBadCharacter", "al ice", model.EInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateUser(ctx, model.NewUser{Username: tt.username, PasswordHash: "h"})
			checkCode(t, "CreateUser("+tt.username+")", err, tt.want)
		})
	}
}

func TestStore_GetUser(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	_, err := s.GetUser(context.Background(), 12345)
	checkCode(t, "GetUser(unknown)", err, model.ENotFound)
}

func TestStore_GetUserCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice := mustUser(t, s, "Alice")

	for _, name := range []string{"Alice", "alice", "ALICE"} {
		u, hash, err := s.GetUserCredentials(ctx, name)
		if err != nil {
			t.Fatalf("GetUserCredentials(%q): %v", name, err)
		}
		if diff := cmp.Diff(alice, u); diff != "" {
			t.Errorf("GetUserCredentials(%q) user (-want +got):\n%s", name, diff)
		}
		if hash != "hash-of-Alice" {
			t.Errorf("GetUserCredentials(%q) hash: got %q, want %q", name, hash, "hash-of-Alice")
		}
	}
	_, _, err := s.GetUserCredentials(ctx, "bob")
	checkCode(t, "GetUserCredentials(unknown)", err, model.ENotFound)
}

func TestStore_ListUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	for _, u := range []model.NewUser{
		{Username: "alice"},
		{Username: "Alfred", DisplayName: "Zed"},
		{Username: "bob", DisplayName: "Alan B"},
		{Username: "carol", DisplayName: "100% Carol"},
		{Username: "a_b"},
		{Username: "axb"},
		{Username: "dave", DisplayName: `Back\slash`},
	} {
		u.PasswordHash = "h"
		if _, err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q): %v", u.Username, err)
		}
	}

	names := func(us []model.User) []string {
		out := []string{}
		for _, u := range us {
			out = append(out, u.Username)
		}
		return out
	}

	tests := []struct {
		name     string
		filter   model.UserFilter
		want     []string
		wantMore bool
	}{
		{"All", model.UserFilter{}, []string{"a_b", "Alfred", "alice", "axb", "bob", "carol", "dave"}, false},
		{"PrefixOfUsernameOrDisplayName", model.UserFilter{Query: "al"}, []string{"Alfred", "alice", "bob"}, false},
		{"IgnoresCase", model.UserFilter{Query: "AL"}, []string{"Alfred", "alice", "bob"}, false},
		{"PrefixNotSubstring", model.UserFilter{Query: "ice"}, []string{}, false},
		{"UnderscoreIsLiteral", model.UserFilter{Query: "a_"}, []string{"a_b"}, false},
		{"PercentIsLiteral", model.UserFilter{Query: "100%"}, []string{"carol"}, false},
		{"PercentMatchesOnlyItself", model.UserFilter{Query: "%"}, []string{}, false},
		{"BackslashIsLiteral", model.UserFilter{Query: `back\`}, []string{"dave"}, false},
		{"BackslashEscapesNothing", model.UserFilter{Query: `back\s`}, []string{"dave"}, false},
		{"Limit", model.UserFilter{Limit: 2}, []string{"a_b", "Alfred"}, true},
		{"After", model.UserFilter{After: "alice", Limit: 2}, []string{"axb", "bob"}, true},
		{"AfterAnyCase", model.UserFilter{After: "ALICE", Limit: 2}, []string{"axb", "bob"}, true},
		{"LastPage", model.UserFilter{After: "bob", Limit: 2}, []string{"carol", "dave"}, false},
		{"AfterEnd", model.UserFilter{After: "zzz"}, []string{}, false},
		{"QueryAndAfter", model.UserFilter{Query: "al", After: "alfred"}, []string{"alice", "bob"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more, err := s.ListUsers(ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListUsers(%+v): %v", tt.filter, err)
			}
			if diff := cmp.Diff(tt.want, names(got)); diff != "" {
				t.Errorf("ListUsers(%+v) (-want +got):\n%s", tt.filter, diff)
			}
			if more != tt.wantMore {
				t.Errorf("ListUsers(%+v) has_more: got %v, want %v", tt.filter, more, tt.wantMore)
			}
		})
	}

	t.Run("PagesCoverAll", func(t *testing.T) {
		var all []string
		f := model.UserFilter{Limit: 3}
		for range 10 {
			page, more, err := s.ListUsers(ctx, f)
			if err != nil {
				t.Fatalf("ListUsers(%+v): %v", f, err)
			}
			all = append(all, names(page)...)
			if !more {
				break
			}
			f.After = page[len(page)-1].Username
		}
		want := []string{"a_b", "Alfred", "alice", "axb", "bob", "carol", "dave"}
		if diff := cmp.Diff(want, all); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
	})
}
