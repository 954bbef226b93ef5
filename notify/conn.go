package notify

import (
	"context"
	"log/slog"
	"sync"

	"github.com/coder/websocket"

	"parley/model"
)

// conn is one client of the Hub, whatever its transport: a WebSocket
// (Serve) or a Server-Sent Events stream (Stream). The Hub routes frames to
// every conn the same way: it queues them here without blocking, and the
// transport's writer goroutine, the only one that touches the client, takes
// them off. A conn whose queue overflows is closed.
type conn struct {
	hub     *Hub
	user    model.UserID
	session model.SessionID
	log     *slog.Logger

	ready bool // guarded by hub.mu: set once hello is queued; only then do events flow

	mu    sync.Mutex // guards queue and spare
	queue [][]byte   // frames waiting for the writer
	spare [][]byte   // the writer's previous batch, reused
	wake  chan struct{}

	closeOnce   sync.Once
	closing     chan struct{} // closed by closeWith
	closeCode   websocket.StatusCode
	closeReason string
	abort       context.CancelFunc // drops the connection, even mid-handshake
}

// newConn returns a conn for user's session and the context that bounds
// it: canceling it (conn.abort) drops the connection.
func (h *Hub) newConn(ctx context.Context, user model.UserID, session model.SessionID, transport string) (*conn, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	c := &conn{
		hub:     h,
		user:    user,
		session: session,
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		abort:   cancel,
	}
	c.log = h.log.With("conn_id", h.connID.Add(1), "user_id", user, "transport", transport)
	return c, ctx
}

// enqueue queues frame for the writer without blocking; when the queue is
// full it closes the connection instead.
func (c *conn) enqueue(frame []byte) {
	c.mu.Lock()
	if len(c.queue) >= c.hub.cfg.SendQueue {
		c.mu.Unlock()
		c.closeWith(websocket.StatusPolicyViolation, reasonSlow)
		return
	}
	c.queue = append(c.queue, frame)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // the writer is already due to look
	}
}

// closeWith asks the writer to close the connection with code and reason;
// only the first request counts. It never blocks.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason = code, reason
		close(c.closing)
	})
}

// isClosing reports whether closeWith was called.
func (c *conn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// take hands the writer every queued frame.
func (c *conn) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	frames := c.queue
	c.queue = c.spare
	c.spare = nil
	return frames
}

// recycle gives back a batch the writer has finished with, keeping small
// batches' memory for the next one.
func (c *conn) recycle(frames [][]byte) {
	if cap(frames) > 64 {
		return
	}
	clear(frames)
	c.mu.Lock()
	c.spare = frames[:0]
	c.mu.Unlock()
}
