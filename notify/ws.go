package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/coder/websocket"

	"parley/model"
)

// wsConn is the WebSocket transport of a conn. Its writer goroutine is the
// only one that writes to the socket; the goroutine running Serve reads it.
type wsConn struct {
	*conn
	ws *websocket.Conn

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
	// Canceling ctx makes coder/websocket drop the connection as soon as a
	// read or write waits on it.
	c, ctx := h.newConn(ctx, user, session, "websocket")
	defer c.abort()
	token, u, code, reason := h.register(c)
	if u == nil {
		c.log.Debug("websocket refused", "close_code", int(code), "reason", reason)
		_ = ws.Close(code, reason)
		return nil
	}
	defer h.unregister(c)
	wc := &wsConn{conn: c, ws: ws}

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		wc.writeLoop(ctx)
	}()

	convs, err := h.loadMembership(ctx, user)
	if !h.activate(u, c, token, convs, err) {
		c.closeWith(websocket.StatusInternalError, reasonMembership)
		<-writerDone
		if ctx.Err() != nil { // the connection or the Hub ended first
			return nil
		}
		return fmt.Errorf("load memberships: %w", err)
	}

	wc.readLoop(ctx)
	c.abort()
	<-writerDone
	_ = ws.CloseNow()
	return nil
}

// writeLoop writes queued frames and pings until ctx ends, the connection
// is asked to close, or a write fails.
func (c *wsConn) writeLoop(ctx context.Context) {
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
		if c.isClosing() { // a pending close beats pending frames
			c.finish()
			return
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
func (c *wsConn) flush(ctx context.Context) bool {
	frames := c.take()
	for _, f := range frames {
		if c.isClosing() {
			return true // writeLoop closes
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
	}
	c.recycle(frames)
	return true
}

// finish runs the close handshake asked for by closeWith.
func (c *wsConn) finish() {
	c.log.Debug("websocket closing", "close_code", int(c.closeCode), "reason", c.closeReason)
	_ = c.ws.Close(c.closeCode, c.closeReason)
}

// readLoop handles the client's frames until the connection closes.
func (c *wsConn) readLoop(ctx context.Context) {
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
		if c.allowTyping(c.hub.cfg.Now()) {
			c.hub.typing(ctx, c.conn, conv)
		}
	}
}

func (c *wsConn) logEnd(ctx context.Context, err error) {
	switch status := websocket.CloseStatus(err); {
	case status != -1:
		c.log.Debug("websocket closed", "close_code", int(status))
	case ctx.Err() != nil, errors.Is(err, io.EOF):
		c.log.Debug("websocket closed")
	default:
		c.log.Debug("websocket lost", "err", err)
	}
}

// typing publishes a typing event for c's user in conv, unless its user is
// not a member: the frame is then dropped without a word, which tells the
// client nothing about conv.
func (h *Hub) typing(ctx context.Context, c *conn, conv model.ConversationID) {
	h.mu.RLock()
	_, member := h.users[c.user].convs[conv]
	h.mu.RUnlock()
	if member {
		h.Publish(ctx, model.Typing(conv, c.user))
	}
}

// allowTyping takes a token from c's bucket, which holds TypingBurst and
// gains one every TypingInterval.
func (c *wsConn) allowTyping(now time.Time) bool {
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
