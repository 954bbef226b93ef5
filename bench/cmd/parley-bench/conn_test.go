package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLoadConn checks the load phases' hand-made HTTP/1.1 against a real
// net/http server: the request it sends and how it reads each response.
func TestLoadConn(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	var got struct {
		Body        string `json:"body"`
		ClientMsgID string `json:"client_msg_id"`
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("case") {
		case "chunked": // no Content-Length
			w.WriteHeader(http.StatusCreated)
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "{\"id\":1}\n")
			return
		case "status":
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "{\"id\":1}\n")
			return
		case "close":
			w.Header().Set("Connection", "close")
		}
		if r.Header.Get("Authorization") != "Bearer t" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "headers", http.StatusBadRequest)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "{\"id\":1}\n")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	post := func(query string) error {
		t.Helper()
		u := &benchUser{auth: "Bearer t", msgPath: "/conversations/1/messages?case=" + query}
		c, err := newLoadConn(srv.URL, u, u)
		if err != nil {
			t.Fatal(err)
		}
		defer c.close()
		return c.postMessage(t.Context(), false, "hello", "b-1")
	}

	if err := post("ok"); err != nil {
		t.Fatalf("a 201 with a message: %v", err)
	}
	if diff := cmp.Diff(struct{ Body, ClientMsgID string }{"hello", "b-1"}, struct{ Body, ClientMsgID string }(got)); diff != "" {
		t.Errorf("the server decoded another request (-want +got):\n%s", diff)
	}
	if err := post("status"); err == nil || !strings.Contains(err.Error(), "got status 200, want 201") {
		t.Errorf("a 200: got error %v, want one naming the status", err)
	}
	if err := post("chunked"); err == nil || !strings.Contains(err.Error(), "without Content-Length") {
		t.Errorf("a chunked response: got error %v, want one about Content-Length", err)
	}

	// Connection: close drops the connection; the next request dials again.
	u := &benchUser{auth: "Bearer t", msgPath: "/conversations/1/messages?case=close"}
	c, err := newLoadConn(srv.URL, u, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	before := conns.Load()
	for range 2 {
		if err := c.postMessage(t.Context(), false, "hello", "b-2"); err != nil {
			t.Fatalf("a 201 with Connection: close: %v", err)
		}
	}
	if n := conns.Load() - before; n != 2 {
		t.Errorf("two requests answered with Connection: close took %d connections, want 2", n)
	}
}

func TestState(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	if _, loaded, err := loadState(path); loaded || err != nil {
		t.Fatalf("no file yet: got loaded=%v, err %v; want neither", loaded, err)
	}
	want := []*benchUser{
		{index: 0, userID: 5, convID: 9, auth: "Bearer a", msgPath: "/conversations/9/messages"},
		{index: 1, userID: 6, convID: 10, auth: "Bearer b", msgPath: "/conversations/10/messages"},
	}
	if err := saveState(path, want); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the state file, which holds tokens, has mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	got, loaded, err := loadState(path)
	if err != nil || !loaded {
		t.Fatalf("loadState: loaded=%v, err %v", loaded, err)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(benchUser{})); diff != "" {
		t.Errorf("loaded users differ (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(path, []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadState(path); err == nil {
		t.Error("an empty saved setup: got no error")
	}
}
