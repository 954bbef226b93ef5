package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"parley/model"
)

// One method per operation of openapi.yaml, in its order. Each returns an
// *Error with the API's code when the server refuses, a *NetError when it
// cannot be reached, and ErrLoggedOut when the login has ended.

// Register creates an account and logs the client in as it
// (POST /api/v1/auth/register).
func (c *Client) Register(ctx context.Context, req RegisterRequest) (User, error) {
	var t Tokens
	if err := c.do(ctx, "", http.MethodPost, "/api/v1/auth/register", nil, req, &t); err != nil {
		return User{}, err
	}
	return t.User, c.setSession(sessionFrom(t, time.Now()))
}

// Login logs the client in (POST /api/v1/auth/login). A wrong username and a
// wrong password are the same EUnauthenticated.
func (c *Client) Login(ctx context.Context, username, password string) (User, error) {
	var t Tokens
	req := LoginRequest{Username: username, Password: password}
	if err := c.do(ctx, "", http.MethodPost, "/api/v1/auth/login", nil, req, &t); err != nil {
		return User{}, err
	}
	return t.User, c.setSession(sessionFrom(t, time.Now()))
}

// Refresh renews the login now (POST /api/v1/auth/refresh). Other methods
// do this by themselves when the access token is about to expire.
func (c *Client) Refresh(ctx context.Context) error {
	_, err := c.renew(ctx, c.Session().RefreshToken)
	return err
}

// Logout ends the login on the server (POST /api/v1/auth/logout) and forgets
// it here. A login the server has ended already is not an error.
func (c *Client) Logout(ctx context.Context) error {
	s := c.Session()
	if s.RefreshToken != "" {
		err := c.do(ctx, "", http.MethodPost, "/api/v1/auth/logout", nil, RefreshRequest{RefreshToken: s.RefreshToken}, nil)
		if err != nil && Code(err) != model.EUnauthenticated {
			return err
		}
	}
	return c.setSession(Session{})
}

// Me returns the logged-in user (GET /api/v1/me).
func (c *Client) Me(ctx context.Context) (User, error) {
	var u User
	return u, c.call(ctx, http.MethodGet, "/api/v1/me", nil, nil, &u)
}

// PageQuery selects a page of a search: Q is the text searched for, Cursor
// the previous page's NextCursor, and Limit 1–100 (0: the server's 50).
type PageQuery struct {
	Q      string
	Limit  int
	Cursor string
}

func (q PageQuery) values() url.Values {
	v := url.Values{}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	return v
}

// Users searches users by the start of their username or display name
// (GET /api/v1/users).
func (c *Client) Users(ctx context.Context, q PageQuery) (UserPage, error) {
	var p UserPage
	return p, c.call(ctx, http.MethodGet, "/api/v1/users", q.values(), nil, &p)
}

// User returns one user (GET /api/v1/users/{id}).
func (c *Client) User(ctx context.Context, id model.UserID) (UserProfile, error) {
	var u UserProfile
	return u, c.call(ctx, http.MethodGet, fmt.Sprintf("/api/v1/users/%d", id), nil, nil, &u)
}

// CreateChannel creates a channel with the caller as its first member
// (POST /api/v1/channels). A name taken, regardless of case, is EConflict.
func (c *Client) CreateChannel(ctx context.Context, req ChannelRequest) (Conversation, error) {
	var conv Conversation
	return conv, c.call(ctx, http.MethodPost, "/api/v1/channels", nil, req, &conv)
}

// Channels browses channels whose name contains q.Q (GET /api/v1/channels).
func (c *Client) Channels(ctx context.Context, q PageQuery) (ChannelPage, error) {
	var p ChannelPage
	return p, c.call(ctx, http.MethodGet, "/api/v1/channels", q.values(), nil, &p)
}

// JoinChannel joins a channel (PUT /api/v1/channels/{id}/members/me).
func (c *Client) JoinChannel(ctx context.Context, id model.ConversationID) (Conversation, error) {
	var conv Conversation
	return conv, c.call(ctx, http.MethodPut, fmt.Sprintf("/api/v1/channels/%d/members/me", id), nil, nil, &conv)
}

// LeaveChannel leaves a channel (DELETE /api/v1/channels/{id}/members/me).
func (c *Client) LeaveChannel(ctx context.Context, id model.ConversationID) error {
	return c.call(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/channels/%d/members/me", id), nil, nil, nil)
}

// OpenDirect returns the direct conversation with user, creating it the
// first time (POST /api/v1/conversations/direct).
func (c *Client) OpenDirect(ctx context.Context, user model.UserID) (Conversation, error) {
	var conv Conversation
	return conv, c.call(ctx, http.MethodPost, "/api/v1/conversations/direct", nil, DirectRequest{UserID: user}, &conv)
}

// Conversations returns a page of the caller's conversations, in id order
// (GET /api/v1/conversations). Limit is 1–500 (0: the server's 100).
func (c *Client) Conversations(ctx context.Context, limit int, cursor string) (ConversationPage, error) {
	v := url.Values{}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	var p ConversationPage
	return p, c.call(ctx, http.MethodGet, "/api/v1/conversations", v, nil, &p)
}

// AllConversations pages through every conversation of the caller.
func (c *Client) AllConversations(ctx context.Context) ([]Conversation, error) {
	var all []Conversation
	cursor := ""
	for {
		p, err := c.Conversations(ctx, 500, cursor)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if !p.HasMore || p.NextCursor == "" {
			return all, nil
		}
		cursor = p.NextCursor
	}
}

// Conversation returns one of the caller's conversations
// (GET /api/v1/conversations/{id}).
func (c *Client) Conversation(ctx context.Context, id model.ConversationID) (Conversation, error) {
	var conv Conversation
	return conv, c.call(ctx, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d", id), nil, nil, &conv)
}

// Members lists a conversation's members (GET /api/v1/conversations/{id}/members).
// Every page is fetched, following next_cursor.
func (c *Client) Members(ctx context.Context, id model.ConversationID) ([]Member, error) {
	var all []Member
	q := url.Values{}
	for {
		var p MemberPage
		if err := c.call(ctx, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d/members", id), q, nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if !p.HasMore || p.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", p.NextCursor)
	}
}

// UpdateChannel changes a channel's retention (PATCH /api/v1/channels/{id});
// only its creator or an admin may.
func (c *Client) UpdateChannel(ctx context.Context, id model.ConversationID, req ChannelUpdate) (Conversation, error) {
	var conv Conversation
	return conv, c.call(ctx, http.MethodPatch, fmt.Sprintf("/api/v1/channels/%d", id), nil, req, &conv)
}

// VAPIDKey returns the server's Web Push key (GET /api/v1/push/vapid-key).
func (c *Client) VAPIDKey(ctx context.Context) (VAPIDKey, error) {
	var k VAPIDKey
	return k, c.call(ctx, http.MethodGet, "/api/v1/push/vapid-key", nil, nil, &k)
}

// RegisterDevice registers a push endpoint (POST /api/v1/devices).
func (c *Client) RegisterDevice(ctx context.Context, req DeviceRequest) (Device, error) {
	var d Device
	return d, c.call(ctx, http.MethodPost, "/api/v1/devices", nil, req, &d)
}

// Devices lists the caller's push endpoints (GET /api/v1/devices).
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	var l DeviceList
	return l.Items, c.call(ctx, http.MethodGet, "/api/v1/devices", nil, nil, &l)
}

// DeleteDevice removes a push endpoint (DELETE /api/v1/devices/{id}).
func (c *Client) DeleteDevice(ctx context.Context, id int64) error {
	return c.call(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/devices/%d", id), nil, nil, nil)
}

// MarkRead moves the caller's read marker forward to seq
// (PUT /api/v1/conversations/{id}/read).
func (c *Client) MarkRead(ctx context.Context, id model.ConversationID, seq int64) error {
	return c.call(ctx, http.MethodPut, fmt.Sprintf("/api/v1/conversations/%d/read", id), nil, ReadRequest{Seq: seq}, nil)
}

// PostMessage posts a message (POST /api/v1/conversations/{id}/messages).
// When req has no ClientMsgID it gets a random one, which makes the retries
// after a network failure safe: the server returns the message first
// posted with it instead of posting twice.
func (c *Client) PostMessage(ctx context.Context, id model.ConversationID, req MessageRequest) (Message, error) {
	if req.ClientMsgID == "" {
		req.ClientMsgID = newClientMsgID()
	}
	var m Message
	return m, c.call(ctx, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/messages", id), nil, req, &m)
}

// HistoryQuery selects a page of history: with neither Before nor After
// (both 0), the latest Limit messages; with Before, the newest messages
// whose seq is smaller; with After, the oldest whose seq is greater. Limit
// is 1–100; 0 means the server's default (15 unless configured).
type HistoryQuery struct {
	Limit  int
	Before int64
	After  int64
}

// History returns a page of a conversation's messages, oldest first
// (GET /api/v1/conversations/{id}/messages).
func (c *Client) History(ctx context.Context, id model.ConversationID, q HistoryQuery) (MessagePage, error) {
	v := url.Values{}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	var p MessagePage
	return p, c.call(ctx, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d/messages", id), v, nil, &p)
}

// Changes returns a page of a conversation's changes feed after event_seq
// after, oldest first (GET /api/v1/conversations/{id}/changes). Limit is
// 1–1000; 0 means the server's 100.
func (c *Client) Changes(ctx context.Context, id model.ConversationID, after int64, limit int) (ChangePage, error) {
	v := url.Values{"after": {strconv.FormatInt(after, 10)}}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var p ChangePage
	return p, c.call(ctx, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d/changes", id), v, nil, &p)
}

// Messages fetches up to model.MaxBatchIDs messages by id, in id order,
// leaving out those the caller may not read (GET /api/v1/messages?ids=).
func (c *Client) Messages(ctx context.Context, ids []model.MessageID) ([]Message, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(int64(id), 10)
	}
	var l MessageList
	return l.Items, c.call(ctx, http.MethodGet, "/api/v1/messages", url.Values{"ids": {strings.Join(s, ",")}}, nil, &l)
}

// Message returns one message (GET /api/v1/messages/{id}).
func (c *Client) Message(ctx context.Context, id model.MessageID) (Message, error) {
	var m Message
	return m, c.call(ctx, http.MethodGet, fmt.Sprintf("/api/v1/messages/%d", id), nil, nil, &m)
}

// EditMessage replaces a message's body; only its sender may
// (PATCH /api/v1/messages/{id}).
func (c *Client) EditMessage(ctx context.Context, id model.MessageID, body string) (Message, error) {
	var m Message
	return m, c.call(ctx, http.MethodPatch, fmt.Sprintf("/api/v1/messages/%d", id), nil, MessageEdit{Body: body}, &m)
}

// DeleteMessage deletes a message; its sender or an admin may
// (DELETE /api/v1/messages/{id}).
func (c *Client) DeleteMessage(ctx context.Context, id model.MessageID) (Message, error) {
	var m Message
	return m, c.call(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/messages/%d", id), nil, nil, &m)
}

// WebSocketTicket returns a single-use ticket for opening the event channel
// where headers cannot be set (POST /api/v1/ws/tickets). Go programs need
// none: Dial sends the access token.
func (c *Client) WebSocketTicket(ctx context.Context) (WebSocketTicket, error) {
	var t WebSocketTicket
	return t, c.call(ctx, http.MethodPost, "/api/v1/ws/tickets", nil, nil, &t)
}

// Ready reports whether the server can serve requests (GET /readyz): nil,
// or an error saying why not.
func (c *Client) Ready(ctx context.Context) error {
	var h Health
	return c.do(ctx, "", http.MethodGet, "/readyz", nil, nil, &h)
}

// ChannelByName finds the channel called name, regardless of case. None
// is an *Error with code ENotFound.
func (c *Client) ChannelByName(ctx context.Context, name string) (Channel, error) {
	q := PageQuery{Q: name, Limit: model.MaxPageLimit}
	for {
		p, err := c.Channels(ctx, q)
		if err != nil {
			return Channel{}, err
		}
		for _, ch := range p.Items {
			if strings.EqualFold(ch.Name, name) {
				return ch, nil
			}
		}
		if !p.HasMore || p.NextCursor == "" {
			return Channel{}, &Error{Status: http.StatusNotFound, Code: model.ENotFound,
				Message: fmt.Sprintf("There is no channel named %q.", name)}
		}
		q.Cursor = p.NextCursor
	}
}
