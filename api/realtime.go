package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"parley/model"
)

// Notifier fans events out to live connections on every instance and serves
// those connections; *notify.Hub implements it.
type Notifier interface {
	// Publish hands ev to every instance. It never blocks for long, logs its
	// own failures, and is called only after the change it reports was
	// committed.
	Publish(ctx context.Context, ev model.Event)
	// ServeWebSocket upgrades an authenticated request to a WebSocket for
	// user's login session and returns; the connection lives on until
	// either side ends it. A failed handshake has been answered and is no
	// error; an error means the connection could not be set up after the
	// upgrade, and is only to be logged.
	ServeWebSocket(w http.ResponseWriter, r *http.Request, user model.UserID, session model.SessionID) error
	// Stream delivers the same event frames (JSON text) for a Server-Sent
	// Events client until ctx ends or the server drops the client (slow,
	// logged out, shutting down); then the channel is closed.
	Stream(ctx context.Context, user model.UserID, session model.SessionID) (<-chan []byte, error)
	// CloseSession closes, on every instance, the live connections of one
	// login that has ended, telling the clients reason.
	CloseSession(ctx context.Context, user model.UserID, session model.SessionID, reason string)
}

// Tickets issues and redeems the single-use, short-lived tickets that let a
// browser open a WebSocket without putting its access token in the URL.
type Tickets interface {
	// Issue returns a new ticket for user's session, valid until expires.
	Issue(ctx context.Context, user model.UserID, session model.SessionID) (ticket string, expires time.Time, err error)
	// Redeem consumes ticket. Returns EUnauthenticated if it is unknown,
	// expired or already used.
	Redeem(ctx context.Context, ticket string) (model.UserID, model.SessionID, error)
}

// Presence tells which users have a live connection on any instance.
type Presence interface {
	// Online reports, for each of users, whether they are connected now.
	Online(ctx context.Context, users []model.UserID) (map[model.UserID]bool, error)
}

// The reasons a login's live connections are closed with (code 4001, which
// asyncapi.yaml documents).
const (
	reasonLoggedOut    = "logged out"
	reasonLoginRevoked = "login revoked"
)

// publish hands events to the Notifier. Call it only once the change they
// announce has committed. It never fails the request (the Notifier logs its
// own failures) and must reach the other instances even if the client
// disconnects now, so it does not inherit the request's cancellation.
func publish(r *http.Request, notifier Notifier, events ...model.Event) {
	ctx := context.WithoutCancel(r.Context())
	for _, ev := range events {
		notifier.Publish(ctx, ev)
	}
}

// closeSession closes the live connections of a login that has ended, on
// every instance, without failing the request that ended it.
func closeSession(r *http.Request, notifier Notifier, user model.UserID, session model.SessionID, reason string) {
	notifier.CloseSession(context.WithoutCancel(r.Context()), user, session, reason)
}

// errLoginEnded answers a valid access token whose login has since ended.
var errLoginEnded = model.Errorf(model.EUnauthenticated, "This login has ended; log in again.")

// requireActiveSession returns EUnauthenticated unless session is still
// active. Access tokens stay valid until they expire, even after logout;
// what lasts longer than a request (an event stream, a ticket for one)
// checks the session itself.
func requireActiveSession(ctx context.Context, store Store, session model.SessionID) error {
	active, err := store.SessionActive(ctx, session)
	if err != nil {
		return fmt.Errorf("session active: %w", err)
	}
	if !active {
		return errLoginEnded
	}
	return nil
}

// onlineUsers asks presence about users in one call. Presence is a hint:
// when it cannot answer, the failure is logged and everyone shows offline,
// rather than failing the request.
func onlineUsers(r *http.Request, logger *slog.Logger, presence Presence, users []model.UserID) map[model.UserID]bool {
	online, err := presence.Online(r.Context(), users)
	if err != nil {
		if r.Context().Err() == nil {
			logger.WarnContext(r.Context(), "presence unavailable", "request_id", requestIDFrom(r.Context()), "err", err)
		}
		return map[model.UserID]bool{}
	}
	return online
}
