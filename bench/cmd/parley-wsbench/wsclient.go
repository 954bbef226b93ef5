package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6455 fixes SHA-1 for the handshake
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A client is one WebSocket connection of one bench user, read by one
// goroutine. It is a minimal RFC 6455 client rather than coder/websocket's:
// thousands of them share two cores with the servers, so each frame costs a
// header parse and a byte scan, nothing more. It answers pings and close
// frames; server frames are never masked or fragmented.
type client struct {
	b    *bench
	idx  int   // index in its cohort
	conv int64 // the one conversation its user is in

	nc  net.Conn
	br  *bufio.Reader
	wmu sync.Mutex // guards writes to nc

	hello   chan struct{} // closed when hello arrives
	done    chan struct{} // closed when the read loop has returned
	frames  atomic.Int64  // text frames received
	created atomic.Int64  // message.created frames received

	mu   sync.Mutex
	recs []rec // message.created frames: message id and receipt time

	leaving   atomic.Bool  // we are closing: the close that follows is ours
	closeCode atomic.Int32 // close code the server sent, if it closed first
	lost      atomic.Bool  // the connection ended without our asking
	shapeErrs atomic.Int64
}

// rec is one message.created frame as received.
type rec struct {
	id int64 // message_id
	t  int64 // receipt time, ns since bench start
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

var (
	prefixCreated = []byte(`{"type":"message.created",`)
	prefixHello   = []byte(`{"type":"hello"`)
	keyMessageID  = []byte(`"message_id":`)
)

// dial opens c's WebSocket to base (http://host:port) with token, from
// source address d, and starts its read loop.
func (c *client) dial(ctx context.Context, d *net.Dialer, host, token string) error {
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET /api/v1/ws HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer " + token + "\r\n\r\n"
	deadline := time.Now().Add(30 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = nc.SetDeadline(deadline)
	if _, err := io.WriteString(nc, req); err != nil {
		_ = nc.Close()
		return fmt.Errorf("handshake: %w", err)
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		_ = nc.Close()
		return fmt.Errorf("handshake: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 300)) // none after a 101
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_ = nc.Close()
		return fmt.Errorf("handshake: status %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	sum := sha1.Sum([]byte(key + wsGUID)) //nolint:gosec // see import
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		_ = nc.Close()
		return fmt.Errorf("handshake: bad Sec-WebSocket-Accept %q for key %q", resp.Header.Get("Sec-WebSocket-Accept"), key)
	}
	_ = nc.SetDeadline(time.Time{})
	c.nc, c.br = nc, br
	go c.readLoop()
	return nil
}

// readLoop reads frames until the connection ends.
func (c *client) readLoop() {
	defer close(c.done)
	err := c.read()
	if !c.leaving.Load() {
		c.lost.Store(true)
		if c.closeCode.Load() == 0 && err != nil {
			c.b.logf("client %d: connection lost: %v", c.idx, err)
		}
	}
	_ = c.nc.Close()
}

func (c *client) read() error {
	var ext [8]byte
	var big []byte
	for {
		b0, err := c.br.ReadByte()
		if err != nil {
			return err
		}
		b1, err := c.br.ReadByte()
		if err != nil {
			return err
		}
		if b1&0x80 != 0 {
			return errors.New("masked frame from the server")
		}
		n := int(b1 & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(c.br, ext[:2]); err != nil {
				return err
			}
			n = int(binary.BigEndian.Uint16(ext[:2]))
		case 127:
			if _, err := io.ReadFull(c.br, ext[:8]); err != nil {
				return err
			}
			v := binary.BigEndian.Uint64(ext[:8])
			if v > 1<<20 {
				return fmt.Errorf("frame of %d bytes", v)
			}
			n = int(v)
		}
		var payload []byte
		if n <= c.br.Size() {
			if payload, err = c.br.Peek(n); err != nil {
				return err
			}
		} else {
			if cap(big) < n {
				big = make([]byte, n)
			}
			payload = big[:n]
			if _, err := io.ReadFull(c.br, payload); err != nil {
				return err
			}
		}
		fin, op := b0&0x80 != 0, b0&0x0f
		switch {
		case op == 1 && fin:
			c.text(payload)
		case op == 9: // ping
			if err := c.write(0xA, payload); err != nil {
				return err
			}
		case op == 10: // pong
		case op == 8: // close
			code := 1005
			if len(payload) >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
			}
			if !c.leaving.Load() {
				c.closeCode.Store(int32(code))
				c.b.logf("client %d: closed by the server: %d %s", c.idx, code, safeReason(payload))
			}
			var echo [2]byte
			binary.BigEndian.PutUint16(echo[:], uint16(code))
			_ = c.write(0x8, echo[:])
			return nil
		default:
			return fmt.Errorf("unexpected frame: opcode %d fin %v", op, fin)
		}
		if n <= c.br.Size() {
			_, _ = c.br.Discard(n)
		}
	}
}

// safeReason prints a close frame's reason; it holds no secret.
func safeReason(payload []byte) string {
	if len(payload) <= 2 {
		return ""
	}
	return strconv.Quote(string(payload[2:]))
}

// text handles one text frame: a message.created is recorded by its
// message_id, found by a byte scan; one in 256 of them, and every hello,
// is also checked against the frame's full shape.
func (c *client) text(p []byte) {
	now := c.b.now()
	c.frames.Add(1)
	switch {
	case bytes.HasPrefix(p, prefixCreated):
		id := scanInt(p, keyMessageID)
		n := c.created.Add(1)
		c.mu.Lock()
		c.recs = append(c.recs, rec{id: id, t: now})
		c.mu.Unlock()
		if n&255 == 1 && !c.validCreated(p, id) {
			c.shapeErrs.Add(1)
		}
	case bytes.HasPrefix(p, prefixHello):
		select {
		case <-c.hello:
		default:
			close(c.hello)
		}
	}
}

// validCreated checks a message.created frame against asyncapi.yaml's
// MessageCreated: exactly type, conversation_id, message_id and seq, ids
// positive, and the conversation the client's user is in.
func (c *client) validCreated(p []byte, id int64) bool {
	var f map[string]json.RawMessage
	if err := json.Unmarshal(p, &f); err != nil || len(f) != 4 {
		return false
	}
	var v struct {
		Type           string `json:"type"`
		ConversationID int64  `json:"conversation_id"`
		MessageID      int64  `json:"message_id"`
		Seq            int64  `json:"seq"`
	}
	if err := json.Unmarshal(p, &v); err != nil {
		return false
	}
	return v.Type == "message.created" && v.ConversationID == c.conv && v.MessageID == id && id > 0 && v.Seq > 0
}

// scanInt returns the non-negative integer that follows key in p, or -1.
func scanInt(p, key []byte) int64 {
	i := bytes.Index(p, key)
	if i < 0 {
		return -1
	}
	var n int64 = -1
	for _, ch := range p[i+len(key):] {
		if ch < '0' || ch > '9' {
			break
		}
		if n < 0 {
			n = 0
		}
		n = n*10 + int64(ch-'0')
	}
	return n
}

// write sends one masked frame (client frames must be masked).
func (c *client) write(op byte, payload []byte) error {
	if len(payload) > 125 {
		return errors.New("control payload too long")
	}
	var f [6 + 125]byte
	f[0] = 0x80 | op
	f[1] = 0x80 | byte(len(payload))
	_, _ = rand.Read(f[2:6])
	for i, ch := range payload {
		f[6+i] = ch ^ f[2+i%4]
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.nc.Write(f[:6+len(payload)])
	return err
}

// take returns the frames recorded so far and forgets them.
func (c *client) take() []rec {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.recs
	c.recs = nil
	return r
}

// closeAll closes clients with 1000 and waits up to 5 s for the server's
// answers before dropping the sockets.
func closeAll(clients []*client) {
	for _, c := range clients {
		if c == nil || c.nc == nil {
			continue
		}
		c.leaving.Store(true)
		_ = c.write(0x8, []byte{0x03, 0xe8})
	}
	deadline := time.After(5 * time.Second)
	for _, c := range clients {
		if c == nil || c.nc == nil {
			continue
		}
		select {
		case <-c.done:
		case <-deadline:
		}
		_ = c.nc.Close()
	}
	for _, c := range clients {
		if c != nil && c.nc != nil {
			<-c.done
		}
	}
}
