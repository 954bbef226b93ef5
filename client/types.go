package client

import (
	"time"

	"parley/model"
)

// The types below are the JSON bodies of openapi.yaml, one Go type per
// schema of the same name. TestTypesMatchOpenAPI checks their fields against
// the schemas both ways, so a change to the spec that is not made here fails.

// RegisterRequest is the body of POST /api/v1/auth/register.
type RegisterRequest struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name,omitempty"`
}

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// RefreshRequest is the body of POST /api/v1/auth/refresh and /logout.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// ChannelRequest is the body of POST /api/v1/channels.
type ChannelRequest struct {
	Name  string `json:"name"`
	Topic string `json:"topic,omitempty"`
}

// DirectRequest is the body of POST /api/v1/conversations/direct.
type DirectRequest struct {
	UserID model.UserID `json:"user_id"`
}

// ReadRequest is the body of PUT /api/v1/conversations/{id}/read.
type ReadRequest struct {
	Seq int64 `json:"seq"`
}

// MessageRequest is the body of POST /api/v1/conversations/{id}/messages.
type MessageRequest struct {
	Body string `json:"body"`
	// ClientMsgID makes posting idempotent. PostMessage fills in a random
	// one when it is empty, so that its own retries never post twice.
	ClientMsgID string `json:"client_msg_id,omitempty"`
}

// MessageEdit is the body of PATCH /api/v1/messages/{id}.
type MessageEdit struct {
	Body string `json:"body"`
}

// User is an account as everyone sees it.
type User struct {
	ID          model.UserID `json:"id"`
	Username    string       `json:"username"`
	DisplayName string       `json:"display_name"`
	CreatedAt   time.Time    `json:"created_at"`
}

// UserProfile is a user and whether they are online.
type UserProfile struct {
	ID          model.UserID `json:"id"`
	Username    string       `json:"username"`
	DisplayName string       `json:"display_name"`
	CreatedAt   time.Time    `json:"created_at"`
	Online      bool         `json:"online"`
}

// Tokens is what register, login and refresh return.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"` // seconds
	User         User   `json:"user"`
}

// Conversation is a channel or a direct conversation as its member sees it.
type Conversation struct {
	ID            model.ConversationID `json:"id"`
	Kind          model.Kind           `json:"kind"`
	Name          *string              `json:"name"`  // nil for a direct conversation
	Topic         *string              `json:"topic"` // nil for a direct conversation
	CreatedAt     time.Time            `json:"created_at"`
	LastSeq       int64                `json:"last_seq"`
	LastEventSeq  int64                `json:"last_event_seq"` // the newest change's event_seq; 0 when none
	ReadSeq       int64                `json:"read_seq"`       // the caller's read marker
	LastMessageAt *time.Time           `json:"last_message_at"`
	UnreadCount   int64                `json:"unread_count"`
	// RetentionDays is how long a channel keeps messages; nil keeps them forever.
	RetentionDays *int `json:"retention_days,omitempty"`
	// HistoryStartSeq is the oldest seq retention has kept; 0 when nothing was removed.
	HistoryStartSeq int64 `json:"history_start_seq,omitempty"`
}

// Title is the channel's name, or "" for a direct conversation.
func (c Conversation) Title() string {
	if c.Name == nil {
		return ""
	}
	return *c.Name
}

// Channel is a channel as anyone browsing sees it.
type Channel struct {
	ID          model.ConversationID `json:"id"`
	Kind        model.Kind           `json:"kind"`
	Name        string               `json:"name"`
	Topic       string               `json:"topic"`
	CreatedAt   time.Time            `json:"created_at"`
	MemberCount int64                `json:"member_count"`
	IsMember    bool                 `json:"is_member"`
}

// Member is a user in a conversation.
type Member struct {
	ID          model.UserID `json:"id"`
	Username    string       `json:"username"`
	DisplayName string       `json:"display_name"`
	CreatedAt   time.Time    `json:"created_at"`
	JoinedAt    time.Time    `json:"joined_at"`
	Online      bool         `json:"online"`
}

// Message is one message. A deleted message keeps its seq, with an empty
// body and DeletedAt set.
type Message struct {
	ID             model.MessageID      `json:"id"`
	ConversationID model.ConversationID `json:"conversation_id"`
	Seq            int64                `json:"seq"`
	SenderID       model.UserID         `json:"sender_id"`
	Body           string               `json:"body"`
	ClientMsgID    *string              `json:"client_msg_id"`
	CreatedAt      time.Time            `json:"created_at"`
	EditedAt       *time.Time           `json:"edited_at"`
	DeletedAt      *time.Time           `json:"deleted_at"`
}

// WebSocketTicket stands in for the access token when opening the event
// channel from a browser.
type WebSocketTicket struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
}

// UserPage is a page of users.
type UserPage struct {
	Items      []User `json:"items"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// ChannelPage is a page of channels.
type ChannelPage struct {
	Items      []Channel `json:"items"`
	HasMore    bool      `json:"has_more"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// ConversationPage is a page of the caller's conversations, by id.
type ConversationPage struct {
	Items      []Conversation `json:"items"`
	HasMore    bool           `json:"has_more"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// MessagePage is a page of history, oldest first.
type MessagePage struct {
	Items   []Message `json:"items"`
	HasMore bool      `json:"has_more"` // more exist in the direction paged
}

// MemberPage is one page of a conversation's members.
type MemberPage struct {
	Items      []Member `json:"items"`
	HasMore    bool     `json:"has_more"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// ChannelUpdate changes a channel's settings (PATCH /api/v1/channels/{id}).
type ChannelUpdate struct {
	RetentionDays *int `json:"retention_days"` // nil keeps messages forever
}

// PushKeys are a Web Push subscription's keys, as PushSubscription.toJSON gives them.
type PushKeys struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// DeviceRequest registers a push endpoint.
type DeviceRequest struct {
	Kind          string   `json:"kind"` // webpush or unifiedpush
	Endpoint      string   `json:"endpoint"`
	Keys          PushKeys `json:"keys,omitempty,omitzero"` // webpush only, required there
	IncludeSender bool     `json:"include_sender,omitempty"`
}

// Device is a registered push endpoint.
type Device struct {
	ID            int64     `json:"id"`
	Kind          string    `json:"kind"`
	Endpoint      string    `json:"endpoint"`
	IncludeSender bool      `json:"include_sender"`
	CreatedAt     time.Time `json:"created_at"`
}

// DeviceList is the caller's push devices.
type DeviceList struct {
	Items []Device `json:"items"`
}

// VAPIDKey is the server's Web Push application server key.
type VAPIDKey struct {
	PublicKey string `json:"public_key"`
}

// MessageList is the answer to GET /api/v1/messages?ids=.
type MessageList struct {
	Items []Message `json:"items"`
}

// Change is one entry of a conversation's changes feed.
type Change struct {
	EventSeq  int64           `json:"event_seq"`
	Type      model.EventType `json:"type"` // message.created, message.updated or message.deleted
	MessageID model.MessageID `json:"message_id"`
	Seq       int64           `json:"seq"`
}

// ChangePage is a page of the changes feed, oldest first.
type ChangePage struct {
	Items   []Change `json:"items"`
	HasMore bool     `json:"has_more"`
}

// Health is what /healthz and /readyz answer.
type Health struct {
	Status string `json:"status"`
}

// errorBody is the Error schema: every error response's body.
type errorBody struct {
	Error struct {
		Code    model.Code        `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields,omitempty"`
	} `json:"error"`
}
