package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"

	"parley/model"
)

// conn is one WebSocket connection. Its writer goroutine is the only one
// that writes to the socket; the goroutine running Serve reads it.
type conn struct {
	hub     *Hub
	ws      *websocket.Conn
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

	// Typing rate limit, used by the reading goroutine only.
	tokens     float64
	lastTyping time.Time
}

// Serve runs the event channel on ws, an accepted WebSocket of user signed
// in with session, until it closes. The caller has authenticated the
// request and checked its Origin; Serve sends hello, then the events for
// user, and handles the typing frames the client sends. It returns nil
// however the client goes away; it returns an error (after closing ws with
// 1011) only if user's memberships could not be loaded. Serve takes
// ownership of ws. Canceling ctx drops the connection without a close
// frame; Hub.Close is the graceful way.
func (h *Hub) Serve(ctx context.Context, ws *websocket.Conn, user model.UserID, session model.SessionID) error {
	c := &conn{
		hub:     h,
		ws:      ws,
		user:    user,
		session: session,
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
	}
	c.log = h.log.With("conn_id", h.connID.Add(1), "user_id", user)
	// Canceling ctx makes coder/websocket drop the connection as soon as a
	// read or write waits on it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.abort = cancel
	token, u, code, reason := h.register(c)
	if u == nil {
		c.log.Debug("websocket refused", "close_code", int(code), "reason", reason)
		_ = ws.Close(code, reason)
		return nil
	}
	defer h.unregister(c)

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(ctx)
	}()

	convs, err := h.loadMembership(ctx, user)
	h.mu.Lock()
	h.endLoad(u, token, convs, err == nil)
	if err == nil {
		c.ready = true
		c.enqueue(mustMarshal(model.Hello(user)))
	}
	h.mu.Unlock()
	if err != nil {
		c.closeWith(websocket.StatusInternalError, reasonMembership)
		<-writerDone
		if ctx.Err() != nil { // the connection or the Hub ended first
			return nil
		}
		return fmt.Errorf("load memberships: %w", err)
	}

	c.readLoop(ctx)
	cancel()
	<-writerDone
	_ = ws.CloseNow()
	return nil
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

// writeLoop writes queued frames and pings until ctx ends, the connection
// is asked to close, or a write fails.
func (c *conn) writeLoop(ctx context.Context) {
	cfg := &c.hub.cfg
	ticker := time.NewTicker(cfg.PingInterval)
	defer ticker.Stop()
	var (
		pinging  bool
		pingDone = make(chan error, 1)
		pingWG   sync.WaitGroup
	)
	defer pingWG.Wait()
	for {
		select { // a pending close beats pending frames
		case <-c.closing:
			c.finish()
			return
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-c.closing:
			c.finish()
			return
		case <-c.wake:
			if !c.flush(ctx) {
				return
			}
		case <-ticker.C:
			if pinging {
				continue // the outstanding ping's timeout decides
			}
			pinging = true
			pingWG.Add(1)
			go func() {
				defer pingWG.Done()
				pctx, cancel := context.WithTimeout(ctx, cfg.PingTimeout)
				defer cancel()
				pingDone <- c.ws.Ping(pctx)
			}()
		case err := <-pingDone:
			pinging = false
			if err != nil {
				if ctx.Err() == nil {
					c.log.Debug("websocket ping failed", "err", err)
				}
				_ = c.ws.CloseNow()
				return
			}
		}
	}
}

// flush writes the queued frames, reporting false if the connection failed.
func (c *conn) flush(ctx context.Context) bool {
	c.mu.Lock()
	frames := c.queue
	c.queue = c.spare
	c.spare = nil
	c.mu.Unlock()
	for i, f := range frames {
		select {
		case <-c.closing:
			return true // writeLoop closes
		default:
		}
		wctx, cancel := context.WithTimeout(ctx, c.hub.cfg.WriteTimeout)
		err := c.ws.Write(wctx, websocket.MessageText, f)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Debug("websocket write failed", "err", err)
			}
			_ = c.ws.CloseNow()
			return false
		}
		frames[i] = nil
	}
	if cap(frames) <= 64 { // keep small batches' memory for the next one
		c.mu.Lock()
		c.spare = frames[:0]
		c.mu.Unlock()
	}
	return true
}

// finish runs the close handshake asked for by closeWith.
func (c *conn) finish() {
	c.log.Debug("websocket closing", "close_code", int(c.closeCode), "reason", c.closeReason)
	_ = c.ws.Close(c.closeCode, c.closeReason)
}

// readLoop handles the client's frames until the connection closes.
func (c *conn) readLoop(ctx context.Context) {
	c.ws.SetReadLimit(model.MaxClientFrameBytes)
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			c.logEnd(ctx, err)
			return
		}
		if typ != websocket.MessageText {
			c.closeWith(websocket.StatusUnsupportedData, reasonBinary)
			continue
		}
		conv, err := parseClientFrame(data)
		if err != nil {
			c.closeWith(websocket.StatusPolicyViolation, reasonMalformed)
			continue
		}
		c.hub.typing(ctx, c, conv)
	}
}

func (c *conn) logEnd(ctx context.Context, err error) {
	switch status := websocket.CloseStatus(err); {
	case status != -1:
		c.log.Debug("websocket closed", "close_code", int(status))
	case ctx.Err() != nil, errors.Is(err, io.EOF):
		c.log.Debug("websocket closed")
	default:
		c.log.Debug("websocket lost", "err", err)
	}
}

// typing publishes a typing event for c's user in conv, unless c sends them
// too often or its user is not a member: the frame is then dropped without
// a word, which tells the client nothing about conv.
func (h *Hub) typing(ctx context.Context, c *conn, conv model.ConversationID) {
	if !c.allowTyping(h.cfg.Now()) {
		return
	}
	h.mu.RLock()
	_, member := h.users[c.user].convs[conv]
	h.mu.RUnlock()
	if member {
		h.Publish(ctx, model.Typing(conv, c.user))
	}
}

// allowTyping takes a token from c's bucket, which holds TypingBurst and
// gains one every TypingInterval.
func (c *conn) allowTyping(now time.Time) bool {
	cfg := &c.hub.cfg
	burst := float64(cfg.TypingBurst)
	if c.lastTyping.IsZero() {
		c.tokens = burst
	} else if d := now.Sub(c.lastTyping); d > 0 {
		c.tokens = min(burst, c.tokens+float64(d)/float64(cfg.TypingInterval))
	}
	c.lastTyping = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// parseClientFrame returns the conversation of a typing frame,
// {"type":"typing","conversation_id":7}, or an error for anything else:
// other types or fields (compared exactly, unlike encoding/json's matching),
// a missing or non-positive conversation_id, or trailing data.
func parseClientFrame(data []byte) (model.ConversationID, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		return 0, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return 0, errors.New("data after the frame")
	}
	var (
		typ  model.EventType
		conv model.ConversationID
	)
	for k, v := range fields {
		var err error
		switch k {
		case "type":
			err = json.Unmarshal(v, &typ)
		case "conversation_id":
			err = json.Unmarshal(v, &conv)
		default:
			err = fmt.Errorf("unknown field %q", k)
		}
		if err != nil {
			return 0, err
		}
	}
	if typ != model.EventTyping {
		return 0, fmt.Errorf("unknown frame type %q", typ)
	}
	if conv <= 0 {
		return 0, errors.New("conversation_id must be positive")
	}
	return conv, nil
}
