package notify

import (
	"context"
	"fmt"

	"github.com/coder/websocket"

	"parley/model"
)

// errRestarting refuses a stream while the Hub is closing.
var errRestarting = &model.Error{Code: model.EUnavailable, Message: "This server is restarting; reconnect."}

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
// if user's memberships could not be loaded, or, with ErrClosed and
// EUnavailable, if the Hub is closing.
func (h *Hub) Stream(ctx context.Context, user model.UserID, session model.SessionID) (<-chan []byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	c := h.newConn(user, session, "sse", cancel)
	wake := make(chan struct{}, 1)
	c.wake = func() {
		select {
		case wake <- struct{}{}:
		default: // the pump is already due to look
		}
	}
	refused, err := h.open(ctx, c)
	if refused != nil {
		c.abort()
		c.debug("stream refused", "reason", refused.reason)
		if refused.code == websocket.StatusServiceRestart {
			return nil, fmt.Errorf("%w: %w", ErrClosed, errRestarting)
		}
		return nil, &model.Error{Code: model.ERateLimited, Message: "Too many connections for this user."}
	}
	if err != nil {
		h.unregister(c)
		c.abort()
		return nil, err
	}
	out := make(chan []byte)
	go func() {
		c.pump(ctx, wake, out)
		close(out)
		h.unregister(c)
		c.abort()
	}()
	return out, nil
}

// pump hands queued frames to out until ctx ends or the connection is
// asked to close.
func (c *conn) pump(ctx context.Context, wake <-chan struct{}, out chan<- []byte) {
next:
	for {
		if c.closeRequested() {
			c.debug("stream closing", "reason", c.closeReason)
			return
		}
		select {
		case <-ctx.Done():
			c.debug("stream closed")
			return
		case <-c.closing:
			continue // logged above
		case <-wake:
		}
		c.mu.Lock()
		frames := c.takeLocked()
		c.mu.Unlock()
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
