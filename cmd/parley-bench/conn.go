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
// response with http.ReadResponse into a buffer they reuse. Only the status
// and the shape of the body are checked, not its JSON.
type loadConn struct {
	addr    string // host:port
	getReq  []byte // the whole GET of the latest history page
	postHdr []byte // a POST's request line and headers, up to Content-Length's value

	conn net.Conn
	br   *bufio.Reader
	req  []byte // the request being sent
	body []byte // the last response body
}

// requestTimeout bounds one request of the measured phases.
const requestTimeout = 30 * time.Second

func newLoadConn(base string, u *benchUser) (*loadConn, error) {
	b, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if b.Scheme != "http" {
		return nil, fmt.Errorf("%s: the load phases speak plain http only", base)
	}
	path := b.EscapedPath() + u.msgPath
	head := func(method string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: " + b.Host + "\r\nAuthorization: " + u.auth + "\r\n"
	}
	return &loadConn{
		addr:    b.Host,
		getReq:  []byte(head(http.MethodGet) + "\r\n"),
		postHdr: []byte(head(http.MethodPost) + "Content-Type: application/json\r\nContent-Length: "),
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

// postMessage posts body with clientMsgID to the user's channel and expects
// 201 and a message object. The JSON is built by hand: body and clientMsgID
// hold no quotes or backslashes.
func (c *loadConn) postMessage(ctx context.Context, body, clientMsgID string) error {
	n := len(`{"body":"","client_msg_id":""}`) + len(body) + len(clientMsgID)
	c.req = append(c.req[:0], c.postHdr...)
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
		c.conn = conn
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
	if err := c.conn.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return err
	}
	if _, err := c.conn.Write(c.req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	c.body, err = readInto(c.body[:0], resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		method, _, _ := bytes.Cut(c.req, []byte(" "))
		return fmt.Errorf("%s: got status %d, want %d: %s", method, resp.StatusCode, want, bytes.TrimSpace(c.body[:min(len(c.body), 300)]))
	}
	if resp.Close {
		c.close()
	}
	return nil
}

func (c *loadConn) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// maxResponse caps what readInto keeps of one response body.
const maxResponse = 1 << 20

// readInto appends r's contents to b until EOF.
func readInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			if len(b) >= maxResponse {
				return b, errors.New("response body over 1 MiB")
			}
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
