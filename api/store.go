package api

import (
	"context"

	"parley/model"
)

// Store is the storage the handlers need; *db.Store implements it. Each
// method documents the error codes it returns; any other error is internal.
type Store interface {
	// CreateUser creates an account. Returns EConflict if the username is
	// taken, whatever its case.
	CreateUser(ctx context.Context, u model.NewUser) (model.User, error)
	// GetUser returns ENotFound if there is no such user.
	GetUser(ctx context.Context, id model.UserID) (model.User, error)
	// GetUserCredentials returns the user with this username (any case) and
	// the stored password hash. Returns ENotFound if there is none.
	GetUserCredentials(ctx context.Context, username string) (model.User, string, error)
	// ListUsers returns up to f.Limit users ordered by lowercased username, and
	// whether more follow.
	ListUsers(ctx context.Context, f model.UserFilter) ([]model.User, bool, error)

	// CreateSession starts a login for user with its first refresh token.
	CreateSession(ctx context.Context, user model.UserID, first model.RefreshToken) (model.SessionID, error)
	// RotateRefreshToken marks the token with hash old as used and stores next
	// in the same session, returning the session's user. Returns
	// EUnauthenticated if old is unknown, expired, or its session revoked; if
	// old was already used, it also revokes the whole session (reuse means
	// the token leaked) and returns that session and its user along with the
	// EUnauthenticated error.
	RotateRefreshToken(ctx context.Context, old []byte, next model.RefreshToken) (model.UserID, model.SessionID, error)
	// RevokeSessionByRefreshToken ends the login that the token with this hash
	// belongs to, returning its user and id. Returns EUnauthenticated if the
	// token is unknown or expired.
	RevokeSessionByRefreshToken(ctx context.Context, hash []byte) (model.UserID, model.SessionID, error)
	// SessionActive reports whether the session exists and is not revoked.
	SessionActive(ctx context.Context, id model.SessionID) (bool, error)

	// CreateChannel creates a channel with actor as its first member.
	// Returns EConflict if the name is taken, whatever its case.
	CreateChannel(ctx context.Context, actor model.UserID, c model.NewChannel) (model.Conversation, error)
	// ListChannels returns up to f.Limit channels ordered by lowercased name,
	// and whether more follow.
	ListChannels(ctx context.Context, actor model.UserID, f model.ChannelFilter) ([]model.Channel, bool, error)
	// JoinChannel makes actor a member; joining twice is not an error, and
	// joined reports whether this call added them. Returns ENotFound if id is
	// not a channel.
	JoinChannel(ctx context.Context, actor model.UserID, id model.ConversationID) (c model.Conversation, joined bool, err error)
	// LeaveChannel ends actor's membership; leaving twice is not an error,
	// and left reports whether this call ended it. Returns ENotFound if id is
	// not a channel.
	LeaveChannel(ctx context.Context, actor model.UserID, id model.ConversationID) (left bool, err error)
	// GetOrCreateDirect returns the one direct conversation between actor and
	// other, creating it if needed (created reports which). Returns ENotFound
	// if other does not exist.
	GetOrCreateDirect(ctx context.Context, actor, other model.UserID) (c model.Conversation, created bool, err error)
	// ListConversations returns a page of the conversations actor is a
	// member of, by ascending id after f.After, and whether more follow.
	ListConversations(ctx context.Context, actor model.UserID, f model.ConversationFilter) ([]model.Conversation, bool, error)
	// GetConversation returns ENotFound unless actor is a member.
	GetConversation(ctx context.Context, actor model.UserID, id model.ConversationID) (model.Conversation, error)
	// ListMembers returns up to f.Limit members ordered by lowercased
	// username after f.After, and whether more follow. Returns ENotFound
	// unless actor is a member.
	ListMembers(ctx context.Context, actor model.UserID, id model.ConversationID, f model.MemberFilter) ([]model.Member, bool, error)
	// MarkRead moves actor's read marker forward to seq (never back) and
	// reports whether it moved. Returns ENotFound unless actor is a member,
	// EInvalid (field "seq") if seq is beyond the conversation's last seq.
	MarkRead(ctx context.Context, actor model.UserID, id model.ConversationID, seq int64) (moved bool, err error)

	// PostMessage stores m (ConversationID, SenderID, Body, ClientMsgID set)
	// with the conversation's next seq, filling in the rest, and once it is
	// committed calls announce(m), one call at a time, in commit order. If
	// m.ClientMsgID was already used by this sender in this conversation, it
	// fills m with that message instead, created is false and announce is
	// not called. Returns ENotFound unless the sender is a member.
	PostMessage(ctx context.Context, m *model.Message, announce func(model.Message)) (created bool, err error)
	// ListMessages returns a page of history oldest first, and whether more
	// messages exist in the direction paged. Returns ENotFound unless actor
	// is a member.
	ListMessages(ctx context.Context, actor model.UserID, f model.HistoryFilter) ([]model.Message, bool, error)
	// ListChanges returns a page of a conversation's changes feed, oldest
	// first, and whether more follow. Returns ENotFound unless actor is a
	// member.
	ListChanges(ctx context.Context, actor model.UserID, f model.ChangeFilter) ([]model.Change, bool, error)
	// ListChangesSince returns, as events in the order they happened, what
	// can be replayed to actor of what happened after change id after (the
	// highest message id an event stream announced): the latest change of
	// each message changed since in actor's conversations, conversations
	// joined and read markers moved. At most limit; more reports that there
	// were more, and then the events are not all there.
	ListChangesSince(ctx context.Context, actor model.UserID, after model.MessageID, limit int) ([]model.Event, bool, error)
	// GetMessage returns ENotFound unless actor is a member of its conversation.
	GetMessage(ctx context.Context, actor model.UserID, id model.MessageID) (model.Message, error)
	// GetMessages returns those of ids that actor may read, in ascending id
	// order; others are silently left out.
	GetMessages(ctx context.Context, actor model.UserID, ids []model.MessageID) ([]model.Message, error)
	// UpdateMessage replaces the body and sets EditedAt. Returns ENotFound
	// unless actor is a member, EForbidden unless actor sent it, EConflict if
	// it was deleted.
	UpdateMessage(ctx context.Context, actor model.UserID, id model.MessageID, body string) (model.Message, error)
	// DeleteMessage removes the body and sets DeletedAt; the seq stays.
	// Deleting twice is not an error. Returns ENotFound unless actor is a
	// member or an admin, EForbidden unless actor sent it or is an admin.
	DeleteMessage(ctx context.Context, actor model.UserID, id model.MessageID) (model.Message, error)

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error

	// Push devices and channel retention (issue 13).

	// CreateDevice registers d, or updates it and moves it to d.UserID if
	// its endpoint was registered already (created false). Returns
	// EConflict if the user has model.MaxDevicesPerUser devices already.
	CreateDevice(ctx context.Context, d model.Device) (stored model.Device, created bool, err error)
	// ListDevices returns user's devices, oldest first.
	ListDevices(ctx context.Context, user model.UserID) ([]model.Device, error)
	// DeleteDevice returns ENotFound unless device id is user's.
	DeleteDevice(ctx context.Context, user model.UserID, id model.DeviceID) error
	// SetChannelRetention sets channel id's retention in days (nil: keep
	// forever). Returns ENotFound unless id is a channel actor is a member
	// of, EForbidden unless actor created it or is an admin.
	SetChannelRetention(ctx context.Context, actor model.UserID, id model.ConversationID, days *int) (model.Conversation, error)
}
