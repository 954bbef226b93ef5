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
// every conn the same way: it queues them here without blocking and wakes
// the transport, whose writer, the only one that touches the client, takes
// them off. A conn whose queue overflows is closed.
//
// An idle conn holds no goroutine of its own beyond its transport's reader,
// and little memory: at 10,000 idle WebSockets per instance, every field
// counts.
type conn struct {
	hub       *Hub
	id        uint64
	user      model.UserID
	session   model.SessionID
	transport string

	ready bool // guarded by hub.mu: set once hello is queued; only then do events flow

	mu          sync.Mutex // guards the fields below
	queue       [][]byte   // frames waiting for the writer
	spare       [][]byte   // the writer's previous batch, reused
	closeCode   websocket.StatusCode
	closeReason string
	closing     chan struct{} // closed by closeWith
	// wake tells the transport that frames or a close request wait. It is
	// called with mu held and must not block.
	wake func()

	abort func() // drops the connection without a goodbye
}

// newConn returns a conn for user's session; abort drops it.
func (h *Hub) newConn(user model.UserID, session model.SessionID, transport string, abort func()) *conn {
	return &conn{
		hub:       h,
		id:        h.connID.Add(1),
		user:      user,
		session:   session,
		transport: transport,
		closing:   make(chan struct{}),
		abort:     abort,
	}
}

// debug logs msg about c at debug level.
func (c *conn) debug(msg string, args ...any) {
	log := c.hub.log
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	log.Debug(msg, append([]any{"conn_id", c.id, "user_id", c.user, "transport", c.transport}, args...)...)
}

// enqueue queues frame for the writer without blocking; when the queue is
// full it closes the connection instead.
func (c *conn) enqueue(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) >= c.hub.cfg.SendQueue {
		c.closeLocked(websocket.StatusPolicyViolation, reasonSlow)
		return
	}
	c.queue = append(c.queue, frame)
	c.wake()
}

// closeWith asks the writer to close the connection with code and reason;
// only the first request counts. It never blocks.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, reason)
}

func (c *conn) closeLocked(code websocket.StatusCode, reason string) {
	if c.closeRequested() {
		return
	}
	c.closeCode, c.closeReason = code, reason
	close(c.closing)
	c.wake()
}

// closeRequested reports whether closeWith was called.
func (c *conn) closeRequested() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// takeLocked hands the writer every queued frame. The caller holds c.mu.
func (c *conn) takeLocked() [][]byte {
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
