package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/db"
	"parley/internal/dbtest"
	"parley/model"
)

// envChildServe makes the test binary run "parley serve" instead of the
// tests, so that TestServe_KillDuringBatches has a server process to kill.
const envChildServe = "PARLEY_TEST_CHILD_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(envChildServe) == "1" {
		err := run(context.Background(), []string{"serve"}, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestServe_KillDuringBatches posts from many clients at once, so that
// messages are stored in batches, kills the server with SIGKILL in the
// middle, and checks that every message answered with 201 is stored, with
// the id and seq it was answered with, and that seq has no hole.
func TestServe_KillDuringBatches(t *testing.T) {
	t.Parallel()
	dsn := dbtest.DSN(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildServe+"=1", "DATABASE_URL="+dsn, "PARLEY_JWT_SECRET="+testSecret,
		"PARLEY_ADDR=127.0.0.1:0", "PARLEY_RATE_POST=1000000/1s", "REDIS_URL=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var entry struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &entry) == nil && entry.Msg == "listening" {
				addr <- entry.Addr
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not log listening within 60s")
	}

	const posters = 16
	bearers := make([]string, posters)
	var owner model.UserID
	for i := range bearers {
		tk := postJSON[tokens](t, base+"/api/v1/auth/register", "", map[string]string{
			"username": fmt.Sprintf("poster%02d", i), "password": "poster-password",
		}, http.StatusCreated)
		bearers[i] = tk.AccessToken
		if i == 0 {
			owner = model.UserID(tk.User.ID)
		}
	}
	ch := postJSON[conversation](t, base+"/api/v1/channels", bearers[0], map[string]string{"name": "busy"}, http.StatusCreated)
	for _, tk := range bearers[1:] {
		doJSON[struct{}](t, http.MethodPut, fmt.Sprintf("%s/api/v1/channels/%d/members/me", base, ch.ID), tk, nil, http.StatusOK)
	}

	// Each poster posts until the server is gone, and keeps what was
	// acknowledged.
	type ack struct {
		ID  model.MessageID `json:"id"`
		Seq int64           `json:"seq"`
	}
	var mu sync.Mutex
	acked := map[string]ack{} // by client_msg_id
	url := fmt.Sprintf("%s/api/v1/conversations/%d/messages", base, ch.ID)
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for i, tk := range bearers {
		wg.Go(func() {
			for k := 0; ; k++ {
				key := fmt.Sprintf("p%02d-%d", i, k)
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"body":"hello","client_msg_id":"`+key+`"}`))
				req.Header.Set("Authorization", "Bearer "+tk)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				var a ack
				err = json.NewDecoder(resp.Body).Decode(&a)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusCreated || err != nil {
					return
				}
				mu.Lock()
				acked[key] = a
				mu.Unlock()
			}
		})
	}
	// Kill it once it has stored a good number, while posts are in flight.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages acknowledged within 60s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	wg.Wait()

	s, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stored := map[string]ack{}
	var seqs []int64
	for after := int64(0); ; {
		page, _, err := s.ListMessages(context.Background(), owner, model.HistoryFilter{ConversationID: model.ConversationID(ch.ID), After: &after, Limit: model.MaxPageLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			stored[m.ClientMsgID] = ack{m.ID, m.Seq}
			seqs = append(seqs, m.Seq)
			after = m.Seq
		}
	}
	for key, a := range acked {
		if got, ok := stored[key]; !ok {
			t.Errorf("%s: acknowledged as id %d seq %d, not stored", key, a.ID, a.Seq)
		} else if got != a {
			t.Errorf("%s: acknowledged as %+v, stored as %+v", key, a, got)
		}
	}
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("seq #%d: got %d, want %d (no holes)", i, seq, i+1)
		}
	}
	t.Logf("%d messages acknowledged, %d stored when the server was killed", len(acked), len(stored))
}
