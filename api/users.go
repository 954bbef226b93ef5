package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"parley/model"
)

type userResponse struct {
	ID          model.UserID `json:"id"`
	Username    string       `json:"username"`
	DisplayName string       `json:"display_name"`
	CreatedAt   time.Time    `json:"created_at"`
}

func toUserResponse(u model.User) userResponse {
	return userResponse{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, CreatedAt: u.CreatedAt.UTC()}
}

// page is one page of a list that pages by cursor or seq. NextCursor is set
// only when HasMore is, and only for lists that page by cursor.
type page[T any] struct {
	Items      []T    `json:"items"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// list is a whole list, returned in one response.
type list[T any] struct {
	Items []T `json:"items"`
}

// toResponses converts each of xs with f; the result is never nil, so an
// empty list is [] on the wire.
func toResponses[T, R any](xs []T, f func(T) R) []R {
	out := make([]R, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// handleMe serves GET /api/v1/me.
func handleMe(store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		user, err := store.GetUser(r.Context(), actor(r))
		if model.ErrorCode(err) == model.ENotFound { // a valid token, but the account is gone
			return model.Errorf(model.EUnauthenticated, "This account no longer exists.")
		}
		if err != nil {
			return fmt.Errorf("get user: %w", err)
		}
		return encode(w, http.StatusOK, toUserResponse(user))
	}
}

// handleUserList serves GET /api/v1/users.
func handleUserList(store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sp, err := searchPageParams(r)
		if err != nil {
			return err
		}
		users, more, err := store.ListUsers(r.Context(), model.UserFilter{Query: sp.Query, After: sp.After, Limit: sp.Limit})
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		key := func(u model.User) string { return strings.ToLower(u.Username) }
		return encode(w, http.StatusOK, cursorPage(users, more, toUserResponse, key))
	}
}

// userProfileResponse is a user and whether they are connected now.
type userProfileResponse struct {
	userResponse
	Online bool `json:"online"`
}

// handleUserGet serves GET /api/v1/users/{id}.
func handleUserGet(logger *slog.Logger, store Store, presence Presence) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.UserID](r.PathValue("id"))
		if err != nil {
			return err
		}
		user, err := store.GetUser(r.Context(), id)
		if err != nil {
			return fmt.Errorf("get user: %w", err)
		}
		online := onlineUsers(r, logger, presence, []model.UserID{user.ID})
		return encode(w, http.StatusOK, userProfileResponse{userResponse: toUserResponse(user), Online: online[user.ID]})
	}
}
