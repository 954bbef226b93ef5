package notify

import (
	"context"
	"fmt"

	"github.com/coder/websocket"

	"parley/model"
)

// Stream opens a connection for a Server-Sent Events client of user signed
// in with session and returns its frames: hello first, then the same event
// frames (JSON text, one per receive) a WebSocket gets, resync included.
// The channel is closed when ctx ends or the Hub drops the client: it read
// too slowly (the bounded queue filled), its session was closed
// (CloseSession), or the Hub is shutting down. The caller must
// keep receiving until then or cancel ctx.
//
// Stream counts against Config.MaxConnsPerUser like a WebSocket. It returns
// an error, and no channel, if user is over that limit (ERateLimited),
// if user's memberships could not be loaded, or, with ErrClosed, if the Hub
// is closing.
func (h *Hub) Stream(ctx context.Context, user model.UserID, session model.SessionID) (<-chan []byte, error) {
	c, ctx := h.newConn(ctx, user, session, "sse")
	token, u, code, reason := h.register(c)
	if u == nil {
		c.abort()
		c.log.Debug("stream refused", "reason", reason)
		if code == websocket.StatusServiceRestart {
			return nil, ErrClosed
		}
		return nil, &model.Error{Code: model.ERateLimited, Message: "Too many connections for this user."}
	}
	convs, err := h.loadMembership(ctx, user)
	if !h.activate(u, c, token, convs, err) {
		h.unregister(c)
		c.abort()
		return nil, fmt.Errorf("load memberships: %w", err)
	}
	out := make(chan []byte)
	go func() {
		c.pump(ctx, out)
		close(out)
		h.unregister(c)
		c.abort()
	}()
	return out, nil
}

// pump hands queued frames to out until ctx ends or the connection is
// asked to close.
func (c *conn) pump(ctx context.Context, out chan<- []byte) {
next:
	for {
		if c.isClosing() {
			c.log.Debug("stream closing", "reason", c.closeReason)
			return
		}
		select {
		case <-ctx.Done():
			c.log.Debug("stream closed")
			return
		case <-c.closing:
			continue // logged above
		case <-c.wake:
		}
		frames := c.take()
		for _, f := range frames {
			select {
			case out <- f:
			case <-ctx.Done():
				return
			case <-c.closing:
				continue next // logged above
			}
		}
		c.recycle(frames)
	}
}
