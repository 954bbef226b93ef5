package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// loadConn is one load client's keep-alive HTTP/1.1 connection for the
// measured phases. net/http's Transport hands every request to a write and
// a read goroutine and allocates a request and headers for each; the load
// generator shares the CPUs with the server, so its phases instead write
// each request with one prebuilt buffer and one system call, and read the
// response with readResponse into a buffer they reuse. Only the status and
// the shape of the body are checked, not its JSON.
type loadConn struct {
	addr    string // host:port
	getReq  []byte // the whole GET of the latest history page
	postHdr []byte // a POST's request line and headers, up to Content-Length's value
	oneHdr  []byte // the same for a POST to the shared channel c000

	conn     net.Conn
	deadline time.Time // of conn's reads and writes
	br       *bufio.Reader
	req      []byte // the request being sent
	body     []byte // the last response body
}

// requestTimeout bounds one request of the measured phases.
const requestTimeout = 30 * time.Second

func newLoadConn(base string, u, first *benchUser) (*loadConn, error) {
	b, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if b.Scheme != "http" {
		return nil, fmt.Errorf("%s: the load phases speak plain http only", base)
	}
	head := func(method, msgPath string) string {
		return method + " " + b.EscapedPath() + msgPath + " HTTP/1.1\r\nHost: " + b.Host + "\r\nAuthorization: " + u.auth + "\r\n"
	}
	const post = "Content-Type: application/json\r\nContent-Length: "
	return &loadConn{
		addr:    b.Host,
		getReq:  []byte(head(http.MethodGet, u.msgPath) + "\r\n"),
		postHdr: []byte(head(http.MethodPost, u.msgPath) + post),
		oneHdr:  []byte(head(http.MethodPost, first.msgPath) + post),
		body:    make([]byte, 0, 16<<10),
	}, nil
}

// latestHistory reads the latest page of the user's channel and expects 200
// and a page object.
func (c *loadConn) latestHistory(ctx context.Context) error {
	c.req = append(c.req[:0], c.getReq...)
	if err := c.roundTrip(ctx, http.StatusOK); err != nil {
		return err
	}
	if !bytes.HasPrefix(c.body, []byte(`{"items":[`)) || !bytes.HasSuffix(c.body, []byte("}\n")) {
		return fmt.Errorf("GET history: the body is not a page: %.200q", c.body)
	}
	return nil
}

// postMessage posts body with clientMsgID to the user's channel, or with
// shared to c000, and expects 201 and a message object. The JSON is built
// by hand: body and clientMsgID hold no quotes or backslashes.
func (c *loadConn) postMessage(ctx context.Context, shared bool, body, clientMsgID string) error {
	n := len(`{"body":"","client_msg_id":""}`) + len(body) + len(clientMsgID)
	hdr := c.postHdr
	if shared {
		hdr = c.oneHdr
	}
	c.req = append(c.req[:0], hdr...)
	c.req = strconv.AppendInt(c.req, int64(n), 10)
	c.req = append(c.req, "\r\n\r\n"+`{"body":"`...)
	c.req = append(c.req, body...)
	c.req = append(c.req, `","client_msg_id":"`...)
	c.req = append(c.req, clientMsgID...)
	c.req = append(c.req, `"}`...)
	if err := c.roundTrip(ctx, http.StatusCreated); err != nil {
		return err
	}
	if !bytes.HasPrefix(c.body, []byte(`{"id":`)) || !bytes.HasSuffix(c.body, []byte("}\n")) {
		return fmt.Errorf("POST message: the body is not a message: %.200q", c.body)
	}
	return nil
}

// roundTrip sends c.req, reads the response body into c.body, and fails
// unless the status is want. It dials when there is no connection, and
// drops the connection after an error or when the server closes it.
func (c *loadConn) roundTrip(ctx context.Context, want int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.conn == nil {
		conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return err
		}
		c.conn, c.deadline = conn, time.Time{}
		if c.br == nil {
			c.br = bufio.NewReaderSize(conn, 16<<10)
		} else {
			c.br.Reset(conn)
		}
	}
	err := c.exchange(want)
	if err != nil {
		c.close()
	}
	return err
}

func (c *loadConn) exchange(want int) error {
	// Moving the deadline costs a timer update; doing it for every request
	// was a tenth of the load generator's CPU.
	if now := time.Now(); c.deadline.Sub(now) < requestTimeout/2 {
		c.deadline = now.Add(requestTimeout)
		if err := c.conn.SetDeadline(c.deadline); err != nil {
			return err
		}
	}
	if _, err := c.conn.Write(c.req); err != nil {
		return err
	}
	status, closing, err := c.readResponse()
	if err != nil {
		return err
	}
	if status != want {
		method, _, _ := bytes.Cut(c.req, []byte(" "))
		return fmt.Errorf("%s: got status %d, want %d: %s", method, status, want, bytes.TrimSpace(c.body[:min(len(c.body), 300)]))
	}
	if closing {
		c.close()
	}
	return nil
}

// readResponse reads one response into c.body and returns its status and
// whether the server closes the connection after it. The server sends every
// API response with a Content-Length; anything else is an error.
func (c *loadConn) readResponse() (status int, closing bool, err error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	code, ok := bytes.CutPrefix(line, []byte("HTTP/1.1 "))
	if !ok || len(code) < 3 {
		return 0, false, fmt.Errorf("not an HTTP/1.1 status line: %.100q", line)
	}
	if status, err = strconv.Atoi(string(code[:3])); err != nil {
		return 0, false, fmt.Errorf("not an HTTP/1.1 status line: %.100q", line)
	}
	length := -1
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 || length > maxResponse {
				return 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	if length < 0 {
		return 0, false, errors.New("a response without Content-Length")
	}
	if cap(c.body) < length {
		c.body = make([]byte, length)
	}
	c.body = c.body[:length]
	_, err = io.ReadFull(c.br, c.body)
	return status, closing, err
}

func (c *loadConn) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// maxResponse caps the body of one response.
const maxResponse = 1 << 20
