package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"parley/internal/dbtest"
)

// deliveryTimeout bounds how long an event may take to arrive. Delivery
// takes milliseconds; the margin is for a loaded machine and -race.
const deliveryTimeout = 5 * time.Second

// startPair starts two instances on one fresh database and the harness's
// Redis, as a deployment of two would run, with env added to both.
func startPair(tb testing.TB, env map[string]string) (dsn string, a, b *instance) {
	tb.Helper()
	dsn = dbtest.DSN(tb)
	redisURL, prefix := sharedRedis(tb)
	cfg := serverConfig{DSN: dsn, RedisURL: redisURL, Prefix: prefix, Env: env}
	a = startParley(tb, "parley-a", cfg)
	b = startParley(tb, "parley-b", cfg)
	return dsn, a, b
}

// TestCrossInstance_Delivery: a client connected to instance A hears about a
// message posted through instance B, and fetches it by id from A.
func TestCrossInstance_Delivery(t *testing.T) {
	t.Parallel()
	_, a, b := startPair(t, nil)
	alice := register(t, b.URL, "alice")
	bob := register(t, a.URL, "bob")
	conv := createChannel(t, b.URL, alice, "general")
	join(t, a.URL, bob, conv)

	ws := connect(t, a.URL, bob, "bob@A")
	var worst time.Duration
	for i := range 5 {
		start := time.Now()
		m := post(t, b.URL, alice, conv, fmt.Sprintf("hello from B #%d", i))
		ws.waitCreated(t, deliveryTimeout, m)
		worst = max(worst, time.Since(start))

		got := getMessages(t, a.URL, bob, m.ID)
		if len(got) != 1 || got[0].Body != m.Body || got[0].Seq != m.Seq {
			t.Fatalf("GET /messages?ids=%d on A: got %+v, want the message posted on B", m.ID, got)
		}
	}
	t.Logf("post on B → event on A, including the POST round trip: worst of 5 %s", worst)

	// A browser's single-use ticket, issued by one instance, opens a
	// socket on the other, and only once: tickets live in Redis.
	var tk map[string]any
	must(t, a.URL, bob.Access, http.MethodPost, "/api/v1/ws/tickets", nil, &tk, http.StatusCreated, http.StatusOK)
	ticket, _ := tk["ticket"].(string)
	if ticket == "" {
		t.Fatalf("POST /api/v1/ws/tickets: got %v, want a ticket", tk)
	}
	connectWith(t, wsURL(b.URL)+"?ticket="+url.QueryEscape(ticket), "", bob.ID, "bob@B by ticket", nil)
	if status, err := refusedStatus(wsURL(a.URL)+"?ticket="+url.QueryEscape(ticket), "", nil); status != http.StatusUnauthorized {
		t.Errorf("second use of a ticket on the other instance: got status %d (%v), want 401", status, err)
	}
}

// TestNginx_Delivery runs deploy/nginx.conf in front of two instances:
// clients on both instances, connected through nginx from the proxy's own
// origin, hear about messages posted through nginx and fetch them through
// it; a foreign origin is refused; Server-Sent Events pass unbuffered.
func TestNginx_Delivery(t *testing.T) {
	t.Parallel()
	_, a, b := startPair(t, map[string]string{"PARLEY_TRUST_PROXY": "true"})
	lb := startNginx(t, a, b)

	alice := register(t, lb.URL, "alice")
	conv := createChannel(t, lb.URL, alice, "lobby")
	// Same-origin browsers: nginx must pass Host with its port for the
	// server's Origin check to let them in.
	origin := http.Header{"Origin": {lb.URL}}
	var clients []*wsConn
	upstreams := map[string]int{}
	for _, name := range []string{"bob", "carol", "dave", "erin"} {
		u := register(t, lb.URL, name)
		join(t, lb.URL, u, conv)
		ws := connectWith(t, wsURL(lb.URL), u.Access, u.ID, name+"@nginx", origin)
		clients = append(clients, ws)
		upstreams[ws.Upstream]++
	}
	if upstreams[a.Addr] == 0 || upstreams[b.Addr] == 0 {
		t.Fatalf("nginx put the sockets on %v, want some on each of %s and %s", upstreams, a.Addr, b.Addr)
	}

	for i := range 4 {
		m := post(t, lb.URL, alice, conv, fmt.Sprintf("through nginx #%d", i))
		for _, ws := range clients {
			ws.waitCreated(t, deliveryTimeout, m)
		}
		if got := getMessages(t, lb.URL, alice, m.ID); len(got) != 1 || got[0].Body != m.Body {
			t.Fatalf("GET /messages?ids=%d through nginx: got %+v", m.ID, got)
		}
	}

	// A page of another origin may not open a socket with a user's token.
	if status, err := refusedStatus(wsURL(lb.URL), alice.Access, http.Header{"Origin": {"https://evil.example"}}); status != http.StatusForbidden {
		t.Errorf("dial through nginx from a foreign origin: got status %d (%v), want 403", status, err)
	}

	// curl -N through nginx: SSE frames must arrive as they are written.
	frames := streamSSE(t, lb.URL, alice)
	m := post(t, lb.URL, alice, conv, "over SSE")
	deadline := time.After(deliveryTimeout)
	for found := false; !found; {
		select {
		case data, ok := <-frames:
			if !ok {
				t.Fatalf("SSE stream through nginx ended before message.created for %d", m.ID)
			}
			var ev event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("SSE data %q is not JSON", data)
			}
			if err := checkFrame([]byte(data)); err != nil {
				t.Errorf("SSE data %s does not match asyncapi.yaml: %v", data, err)
			}
			found = ev.Type == "message.created" && ev.MessageID == m.ID && ev.Seq == m.Seq
		case <-deadline:
			t.Fatalf("SSE through nginx: no message.created for %d within %s (buffered?)", m.ID, deliveryTimeout)
		}
	}
}

// streamSSE follows GET /api/v1/events as u and sends the data of each event
// on the returned channel, which is closed when the stream ends. The stream
// is closed when tb ends.
func streamSSE(tb testing.TB, base string, u *user) <-chan string {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/events", nil)
	if err != nil {
		tb.Fatalf("new request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+u.Access)
	req.Header.Set("Accept", "text/event-stream")
	// No client timeout: the stream is long lived; cancel ends it.
	resp, err := (&http.Client{}).Do(req) //nolint:bodyclose // closed by the cleanup below
	if err != nil {
		cancel()
		tb.Fatalf("GET /api/v1/events: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		_ = resp.Body.Close()
		tb.Fatalf("GET /api/v1/events: got %s %q, want 200 text/event-stream", resp.Status, resp.Header.Get("Content-Type"))
	}
	out := make(chan string, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "data:"):
				data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			case line == "" && len(data) > 0:
				select {
				case out <- strings.Join(data, "\n"):
				case <-ctx.Done():
					return
				}
				data = nil
			}
		}
	}()
	tb.Cleanup(func() {
		cancel()
		_ = resp.Body.Close()
		awaitDone(tb, done, stopTimeout, "event stream reader after cancel")
	})
	return out
}

// upstreamsOf counts, over clients, the instance of each one's latest
// connection.
func upstreamsOf(clients []*syncClient) map[string]int {
	n := map[string]int{}
	for _, c := range clients {
		_, _, _, ups, _ := c.stats()
		if len(ups) > 0 {
			n[ups[len(ups)-1]]++
		}
	}
	return n
}

// seqs lists the seqs of refs, for short failure messages.
func seqs(refs []msgRef) []int64 {
	out := make([]int64, len(refs))
	for i, r := range refs {
		out[i] = r.Seq
	}
	return out
}

// contiguous reports whether refs hold seqs 1…len(refs) in order.
func contiguous(refs []msgRef) bool {
	for i, r := range refs {
		if r.Seq != int64(i+1) {
			return false
		}
	}
	return true
}
