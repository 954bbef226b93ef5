package api

import (
	"context"
	"time"

	"github.com/coder/websocket"

	"parley/model"
)

// Notifier fans events out to live connections on every instance and serves
// those connections; *notify.Hub implements it.
type Notifier interface {
	// Publish hands ev to every instance. It never blocks for long, logs its
	// own failures, and is called only after the change it reports was
	// committed.
	Publish(ctx context.Context, ev model.Event)
	// Serve runs an accepted WebSocket for user's login session until either
	// side ends it.
	Serve(ctx context.Context, ws *websocket.Conn, user model.UserID, session model.SessionID) error
	// Stream delivers the same event frames (JSON text) for a Server-Sent
	// Events client until ctx ends or the server drops the client (slow,
	// logged out, shutting down); then the channel is closed.
	Stream(ctx context.Context, user model.UserID, session model.SessionID) (<-chan []byte, error)
	// CloseSession closes, on every instance, the live connections of one
	// login, with code and reason.
	CloseSession(ctx context.Context, user model.UserID, session model.SessionID, code websocket.StatusCode, reason string)
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
