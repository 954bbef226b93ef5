package notify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"parley/model"
)

// wsConn is the WebSocket transport of a conn. One goroutine, owned by the
// Hub, reads the socket. Writing needs no goroutine while nothing is
// queued: wake starts one that writes until the queue is empty, and a
// timer starts one for each ping. So an idle connection costs one parked
// goroutine, started fresh with a small stack.
type wsConn struct {
	*conn
	ws *websocket.Conn
	nc net.Conn // under ws

	// Guarded by conn.mu.
	writing bool           // a writer runs, or the last one closed the socket
	done    bool           // the connection is over: start nothing more
	tasks   sync.WaitGroup // the writer and ping goroutines
	pinger  *time.Timer

	// typing rate-limits the client's typing frames; made at the first one
	// and used by the reading goroutine only.
	typing *rate.Limiter
}

// The buffers a WebSocket keeps for its whole life. Event frames are a
// hundred bytes or so and client frames at most model.MaxClientFrameBytes;
// a bigger frame still goes through, in more reads or writes.
const (
	wsReadBuffer  = 128
	wsWriteBuffer = 256
)

// ServeWebSocket upgrades r to a WebSocket and serves the event channel on
// it for user signed in with session. The caller has authenticated the
// request, checked that the login is active, and checked its Origin (a
// page on another origin must not open a socket that carries the user's
// credentials): the one list of allowed origins is the caller's. If the
// handshake fails, the response has been written and ServeWebSocket
// returns nil.
//
// It loads user's memberships within r's context and queues hello, then
// returns; from then on the connection runs on a goroutine of the Hub's,
// which sends the events for user and handles the typing frames the client
// sends until either side ends it, and which Hub.Close ends and waits for.
// So the request, its middleware and the caller's deep stack are freed for
// the connection's whole life: at 10,000 idle WebSockets that is most of
// their memory. Nothing of r is kept past the return. It returns an error,
// after closing the socket with 1011, only if the memberships could not be
// loaded.
func (h *Hub) ServeWebSocket(w http.ResponseWriter, r *http.Request, user model.UserID, session model.SessionID) error {
	// The connection outlives the request: the server's read and write
	// timeouts must not cut it off. The Hub pings and bounds each write.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	up := &upgrade{ResponseWriter: w}
	// The caller checked the Origin.
	ws, err := websocket.Accept(up, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil { // Accept has answered: not a valid handshake
		h.log.DebugContext(r.Context(), "websocket handshake refused", "user_id", user, "err", err)
		return nil
	}
	return h.serveWebSocket(r.Context(), ws, up.conn, user, session)
}

// upgrade hands coder/websocket the hijacked connection with buffers of
// wsReadBuffer and wsWriteBuffer bytes rather than net/http's 4 KiB each (at
// 10,000 idle WebSockets, those would be most of their memory), and keeps
// the connection, which serveWebSocket closes to drop the socket at once.
type upgrade struct {
	http.ResponseWriter
	conn net.Conn // once hijacked
}

func (w *upgrade) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Whatever the client sent after the handshake must stay buffered:
	// coder/websocket reads what is buffered, then the connection.
	pending, err := brw.Peek(brw.Reader.Buffered())
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(pending)), conn), max(wsReadBuffer, len(pending)))
	if _, err := r.Peek(len(pending)); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	w.conn = conn
	return conn, bufio.NewReadWriter(r, bufio.NewWriterSize(conn, wsWriteBuffer)), nil
}

// serveWebSocket runs the event channel on ws, which runs on nc, as
// ServeWebSocket describes. It takes ownership of both, and closes nc to
// drop ws at once: coder/websocket's CloseNow waits while a close handshake
// is under way.
func (h *Hub) serveWebSocket(ctx context.Context, ws *websocket.Conn, nc net.Conn, user model.UserID, session model.SessionID) error {
	c := h.newConn(user, session, "websocket", func() { _ = nc.Close() })
	wc := &wsConn{conn: c, ws: ws, nc: nc}
	c.wake = wc.startWriter
	refused, err := h.open(ctx, c)
	if refused != nil {
		c.debug("websocket refused", "close_code", int(refused.code), "reason", refused.reason)
		_ = ws.Close(refused.code, refused.reason)
		return nil
	}
	if err != nil {
		c.closeWith(websocket.StatusInternalError, reasonMembership)
		wc.stop() // waits for the writer's close handshake
		_ = ws.CloseNow()
		h.unregister(c)
		return err
	}
	wc.startPinging()
	go func() {
		wc.readLoop()
		_ = ws.CloseNow()
		wc.stop()
		h.unregister(c)
	}()
	return nil
}

// startWriter is c's wake: it starts a writer unless one runs. The caller
// holds c.mu.
func (c *wsConn) startWriter() {
	if c.writing || c.done {
		return
	}
	c.writing = true
	c.tasks.Add(1)
	go c.write()
}

// write writes queued frames until the queue is empty, then returns; or
// it closes the connection, as asked by closeWith or because a write
// failed, and leaves writing set so that no writer follows.
func (c *wsConn) write() {
	defer c.tasks.Done()
	for {
		c.mu.Lock()
		if c.closeRequested() { // a pending close beats pending frames
			c.mu.Unlock()
			c.finish()
			return
		}
		if len(c.queue) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		frames := c.takeLocked()
		c.mu.Unlock()
		if !c.writeFrames(frames) {
			return
		}
		c.recycle(frames)
	}
}

// writeFrames writes a batch of frames within WriteTimeout, reporting
// false if the connection failed.
func (c *wsConn) writeFrames(frames [][]byte) bool {
	// A deadline on the connection rather than a context: coder/websocket
	// would arm and disarm a context's timer for every frame.
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout)); err != nil {
		c.debug("websocket write failed", "err", err)
		_ = c.ws.CloseNow()
		return false
	}
	for _, f := range frames {
		if c.closeRequested() {
			return true // write closes
		}
		if err := c.ws.Write(context.Background(), websocket.MessageText, f); err != nil {
			c.debug("websocket write failed", "err", err)
			_ = c.ws.CloseNow()
			return false
		}
	}
	return true
}

// finish runs the close handshake asked for by closeWith.
func (c *wsConn) finish() {
	c.debug("websocket closing", "close_code", int(c.closeCode), "reason", c.closeReason)
	_ = c.ws.Close(c.closeCode, c.closeReason)
}

// startPinging schedules the first ping. Connections opened together
// (after a restart, say) spread their pings over the second half of the
// interval.
func (c *wsConn) startPinging() {
	every := c.hub.cfg.PingInterval
	first := every/2 + rand.N(every/2+1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.done {
		c.pinger = time.AfterFunc(first, c.ping)
	}
}

// ping runs on the pinger's goroutine: it pings and waits for the pong
// within PingTimeout, then schedules the next ping, or drops the
// connection.
func (c *wsConn) ping() {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.tasks.Add(1)
	c.mu.Unlock()
	defer c.tasks.Done()

	ctx, cancel := context.WithTimeout(context.Background(), c.hub.cfg.PingTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		c.debug("websocket ping failed", "err", err)
		_ = c.ws.CloseNow()
		return
	}
	c.mu.Lock()
	if !c.done {
		c.pinger.Reset(c.hub.cfg.PingInterval)
	}
	c.mu.Unlock()
}

// stop starts no more writers or pings and waits for those running.
func (c *wsConn) stop() {
	c.mu.Lock()
	c.done = true
	if c.pinger != nil {
		c.pinger.Stop()
	}
	c.mu.Unlock()
	c.tasks.Wait()
}

// readLoop handles the client's frames until the connection closes.
func (c *wsConn) readLoop() {
	// No deadline: pings find dead peers, and abort unblocks the read.
	ctx := context.Background()
	c.ws.SetReadLimit(model.MaxClientFrameBytes)
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			c.logEnd(err)
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

func (c *wsConn) logEnd(err error) {
	switch status := websocket.CloseStatus(err); {
	case status != -1:
		c.debug("websocket closed", "close_code", int(status))
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.debug("websocket closed")
	default:
		c.debug("websocket lost", "err", err)
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

// allowTyping reports whether a typing frame at now is within the rate:
// bursts of TypingBurst, one per TypingInterval sustained.
func (c *wsConn) allowTyping(now time.Time) bool {
	if c.typing == nil {
		c.typing = rate.NewLimiter(rate.Every(c.hub.cfg.TypingInterval), c.hub.cfg.TypingBurst)
	}
	return c.typing.AllowN(now, 1)
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
