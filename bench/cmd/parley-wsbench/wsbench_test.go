package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
)

func TestScanInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{`{"type":"message.created","conversation_id":7,"message_id":123,"seq":42}`, 123},
		{`{"type":"message.created","message_id":9}`, 9},
		{`{"type":"hello","user_id":1}`, -1},
		{`{"message_id":}`, -1},
	}
	for _, tt := range tests {
		if got := scanInt([]byte(tt.in), keyMessageID); got != tt.want {
			t.Errorf("scanInt(%s): got %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestClient runs the minimal client against coder/websocket, the
// servers' library: handshake, hello, events, a ping answered, and the
// server's close code recorded.
func TestClient(t *testing.T) {
	pinged := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		ctx := ws.CloseRead(r.Context()) // reads the pong
		for _, f := range []string{
			`{"type":"hello","user_id":1}`,
			`{"type":"message.created","conversation_id":7,"message_id":123,"seq":1}`,
			`{"type":"presence","user_id":2,"online":true}`,
			`{"type":"message.created","conversation_id":7,"message_id":124,"seq":2}`,
		} {
			if err := ws.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
				return
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		pinged <- ws.Ping(pctx)
		cancel()
		_ = ws.Close(websocket.StatusPolicyViolation, "too slow")
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	b := &bench{start: time.Now(), stderr: io.Discard}
	c := &client{b: b, conv: 7, hello: make(chan struct{}), done: make(chan struct{})}
	if err := c.dial(context.Background(), &net.Dialer{}, u.Host, "tok"); err != nil {
		t.Fatalf("dial: %v", err)
	}
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not end")
	}
	if err := <-pinged; err != nil {
		t.Errorf("ping: %v", err)
	}
	select {
	case <-c.hello:
	default:
		t.Error("no hello recorded")
	}
	var ids []int64
	for _, r := range c.take() {
		ids = append(ids, r.id)
	}
	if diff := cmp.Diff([]int64{123, 124}, ids); diff != "" {
		t.Errorf("message ids (-want +got):\n%s", diff)
	}
	if got := c.closeCode.Load(); got != 1008 {
		t.Errorf("close code: got %d, want 1008", got)
	}
	if n := c.shapeErrs.Load(); n != 0 {
		t.Errorf("shape errors: got %d, want 0", n)
	}

	bad := &client{b: b, hello: make(chan struct{}), done: make(chan struct{})}
	if err := bad.dial(context.Background(), &net.Dialer{}, u.Host, "wrong"); err == nil {
		t.Error("dial with a bad token: got no error")
	}
}

func TestMatch(t *testing.T) {
	b := &bench{start: time.Now()}
	mk := func(conv int64, recs ...rec) *client {
		c := &client{b: b, conv: conv, recs: recs}
		return c
	}
	posts := []post{
		{conv: 1, id: 10, sent: 100, acked: 150},
		{conv: 1, id: 11, sent: 200, acked: 250},
		{conv: 2, id: 20, sent: 300, acked: 350},
	}
	clients := []*client{
		mk(1, rec{10, 110}, rec{11, 230}, rec{11, 240}), // one duplicate
		mk(1, rec{10, 120}, rec{99, 500}),               // 11 missing, 99 unknown
		mk(2, rec{20, 310}, rec{10, 400}),               // 10 is foreign to conv 2
	}
	got := match(clients, posts, func(p *post) bool { return p.id != 20 }, [2]int64{0, 200})
	want := struct{ Delivered, Dups, Unknown, Foreign, Missing, InWindow int64 }{4, 1, 1, 1, 1, 2}
	have := struct{ Delivered, Dups, Unknown, Foreign, Missing, InWindow int64 }{
		got.delivered, got.dups, got.unknown, got.foreign, got.missing, got.inWindow}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("tally (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{10, 20, 30}, got.lat); diff != "" {
		t.Errorf("latencies (-want +got):\n%s", diff)
	}
	if got.last[10] != 120 || got.last[20] != 310 {
		t.Errorf("last receipts: got %v", got.last)
	}
}
