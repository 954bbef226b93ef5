package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"parley/model"
)

// Event is one frame of the event channel (asyncapi.yaml). Fields a type
// does not use are zero.
type Event struct {
	Type           model.EventType      `json:"type"`
	ConversationID model.ConversationID `json:"conversation_id,omitempty"`
	MessageID      model.MessageID      `json:"message_id,omitempty"`
	Seq            int64                `json:"seq,omitempty"`
	EventSeq       int64                `json:"event_seq,omitempty"`
	UserID         model.UserID         `json:"user_id,omitempty"`
	Online         *bool                `json:"online,omitempty"`
}

// CloseLoginEnded is the close code of a connection whose login ended.
const CloseLoginEnded websocket.StatusCode = 4001

// EventConn is an open event channel. Read it from one goroutine; Typing
// and Close may be called from any.
type EventConn struct {
	ws *websocket.Conn
}

// maxFrameBytes bounds one frame from the server; frames are a few dozen
// bytes, so anything near this is a broken server.
const maxFrameBytes = 64 << 10

// Dial opens the event channel (GET /api/v1/ws) with the access token. Its
// first frame is hello. A login the server has ended gives ErrLoggedOut.
func (c *Client) Dial(ctx context.Context) (*EventConn, error) {
	s, err := c.accessToken(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := c.dialWS(ctx, s.AccessToken)
	var e *Error
	if errors.As(err, &e) && e.Code == model.EUnauthenticated {
		if s, err = c.renew(ctx, s.RefreshToken); err != nil {
			return nil, err
		}
		ws, err = c.dialWS(ctx, s.AccessToken)
		if errors.As(err, &e) && e.Code == model.EUnauthenticated {
			return nil, ErrLoggedOut
		}
	}
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(maxFrameBytes)
	return &EventConn{ws: ws}, nil
}

func (c *Client) dialWS(ctx context.Context, token string) (*websocket.Conn, error) {
	u := *c.base
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path += "/api/v1/ws"
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: c.http.Transport}, // no overall timeout: the socket lives long
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if err == nil {
		return ws, nil
	}
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if resp != nil && resp.StatusCode >= 400 {
		return nil, &Error{Status: resp.StatusCode, Code: codeForStatus(resp.StatusCode),
			Message: fmt.Sprintf("opening the event channel: the server answered %s", resp.Status)}
	}
	return nil, &NetError{Server: c.base.Host, Err: err}
}

// Next returns the next frame. When the server closes the connection
// because the login ended, it returns ErrLoggedOut; other endings return
// the close error.
func (e *EventConn) Next(ctx context.Context) (Event, error) {
	_, data, err := e.ws.Read(ctx)
	if err != nil {
		if websocket.CloseStatus(err) == CloseLoginEnded {
			return Event{}, ErrLoggedOut
		}
		return Event{}, err
	}
	var ev Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return Event{}, fmt.Errorf("event frame %q: %w", data, err)
	}
	return ev, nil
}

// Typing tells the other members of conv that the user is typing there.
// The server drops notices beyond 5 in a burst, then one a second.
func (e *EventConn) Typing(ctx context.Context, conv model.ConversationID) error {
	b, _ := json.Marshal(struct {
		Type           model.EventType      `json:"type"`
		ConversationID model.ConversationID `json:"conversation_id"`
	}{model.EventTyping, conv})
	return e.ws.Write(ctx, websocket.MessageText, b)
}

// Ping checks that the server still answers, within the context's deadline.
// Next must be running in another goroutine meanwhile.
func (e *EventConn) Ping(ctx context.Context) error { return e.ws.Ping(ctx) }

// Close closes the connection normally.
func (e *EventConn) Close() error {
	err := e.ws.Close(websocket.StatusNormalClosure, "")
	if err != nil {
		return e.ws.CloseNow()
	}
	return nil
}

// closeNow drops the connection without the closing handshake.
func (e *EventConn) closeNow() { _ = e.ws.CloseNow() }

// pingEvery is how often a subscription checks that its connection is
// alive, and pingTimeout how long the answer may take: a laptop that woke
// from sleep holds a dead socket that only a ping reveals.
const (
	pingEvery   = 30 * time.Second
	pingTimeout = 15 * time.Second
)
