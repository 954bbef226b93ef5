package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/dbtest"
)

// convergeTimeout bounds how long clients may take to catch up after a
// failure: reconnects back off for up to a few seconds.
const convergeTimeout = 30 * time.Second

// TestRedisRestart_ResyncNoLoss kills Redis under two instances, posts while
// it is down, and starts it again on the same port: the instances reconnect
// by themselves, their clients are told to resync, delivery resumes, and a
// client that syncs holds exactly what PostgreSQL holds, the messages posted
// while Redis was down included.
func TestRedisRestart_ResyncNoLoss(t *testing.T) {
	t.Parallel()
	rd := startRedis(t, 0)
	dsn := dbtest.DSN(t)
	cfg := serverConfig{DSN: dsn, RedisURL: rd.URL, Prefix: "parley:"}
	a := startParley(t, "parley-a", cfg)
	b := startParley(t, "parley-b", cfg)

	alice := register(t, a.URL, "alice")
	bob := register(t, a.URL, "bob")
	carol := register(t, b.URL, "carol")
	conv := createChannel(t, a.URL, alice, "weather")
	join(t, b.URL, bob, conv)
	join(t, a.URL, carol, conv)

	// bob watches frames on A; carol (on B) and bob's second device (on A)
	// follow the sync protocol.
	bobWS := connect(t, a.URL, bob, "bob@A")
	syncA := startSync(t, a.URL, login(t, a.URL, bob), "bob-sync@A")
	syncB := startSync(t, b.URL, carol, "carol-sync@B")

	var acked []message
	m := post(t, b.URL, alice, conv, "before")
	acked = append(acked, m)
	bobWS.waitCreated(t, deliveryTimeout, m)

	// Redis dies. Posts must still be committed and acknowledged: their
	// events are lost, which resync makes up for.
	rd.kill()
	down := time.Now()
	var slowest time.Duration
	for i := range 4 {
		base := a.URL
		if i%2 == 1 {
			base = b.URL
		}
		start := time.Now()
		acked = append(acked, post(t, base, alice, conv, fmt.Sprintf("while Redis is down #%d", i)))
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("4 posts while Redis was down: all 201, slowest %s", slowest.Round(time.Millisecond))

	startRedis(t, rd.Port)
	up := time.Now()
	t.Logf("Redis down for %s", up.Sub(down).Round(time.Millisecond))

	// Both instances notice by themselves and tell their clients.
	ev, _ := bobWS.waitFor(t, convergeTimeout, "resync on A", func(e event) bool { return e.Type == "resync" })
	t.Logf("resync on A %s after Redis came back", time.Since(up).Round(time.Millisecond))
	_ = ev
	syncB.waitUntil(t, convergeTimeout, "resync on B", func(s *syncClient) bool { return s.resyncs > 0 })
	syncA.waitUntil(t, convergeTimeout, "resync on A", func(s *syncClient) bool { return s.resyncs > 0 })

	// Delivery resumes, whichever instance a post goes through.
	for _, base := range []string{b.URL, a.URL} {
		m := post(t, base, alice, conv, "after")
		acked = append(acked, m)
		bobWS.waitCreated(t, deliveryTimeout, m)
	}

	want := dbHistory(t, dsn, conv)
	if !contiguous(want) || len(want) != len(acked) {
		t.Fatalf("PostgreSQL holds seqs %v, want 1…%d", seqs(want), len(acked))
	}
	for i, m := range acked {
		if want[i] != (msgRef{Seq: m.Seq, ID: m.ID}) {
			t.Errorf("acknowledged message %d (seq %d) is not in PostgreSQL as acknowledged: %v", m.ID, m.Seq, want[i])
		}
	}
	syncA.converge(t, convergeTimeout, conv, want)
	syncB.converge(t, convergeTimeout, conv, want)
}

// TestKillInstance_ClientsConverge kills one of two instances behind nginx
// with SIGKILL while clients are connected through nginx and posts keep
// coming: the clients it held reconnect through nginx to the other
// instance and converge to exactly PostgreSQL's history, no gap and no
// duplicate, and every acknowledged post is in it exactly once.
func TestKillInstance_ClientsConverge(t *testing.T) {
	t.Parallel()
	dsn, a, b := startPair(t, map[string]string{"PARLEY_TRUST_PROXY": "true"})
	lb := startNginx(t, a, b)

	alice := register(t, lb.URL, "alice")
	bob := register(t, lb.URL, "bob")
	conv := createChannel(t, lb.URL, alice, "incident")
	join(t, lb.URL, bob, conv)

	var clients []*syncClient
	for i := range 6 {
		u := register(t, lb.URL, fmt.Sprintf("member%d", i))
		join(t, lb.URL, u, conv)
		clients = append(clients, startSync(t, lb.URL, u, u.Name))
	}
	for _, c := range clients {
		c.waitUntil(t, startTimeout, "connect", func(s *syncClient) bool { return s.connects > 0 })
	}
	before := upstreamsOf(clients)
	if before[a.Addr] == 0 || before[b.Addr] == 0 {
		t.Fatalf("nginx put the sockets on %v, want some on each of %s and %s", before, a.Addr, b.Addr)
	}

	// Two posters through nginx, each retrying with its client_msg_id
	// until acknowledged, as a real client would. They keep posting while
	// the instance dies, so some posts are in flight on it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const perPoster = 60
	var (
		mu         sync.Mutex
		acked      = map[string]message{}
		attempts   = map[string]int{}
		errs       []error
		afterKill  int
		killedFlag bool
	)
	var wg sync.WaitGroup
	for _, u := range []*user{alice, bob} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perPoster {
				id := fmt.Sprintf("%s-%d", u.Name, i)
				m, n, err := postRetry(ctx, lb.URL, u, conv, "message "+id, id)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					acked[id] = m
					attempts[id] = n
					if killedFlag {
						afterKill++
					}
				}
				mu.Unlock()
				if err != nil {
					return
				}
				time.Sleep(5 * time.Millisecond) // pacing, not waiting for anything
			}
		}()
	}
	within(t, time.Minute, "a third of the posts acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 2*perPoster/3 || len(errs) > 0
	})

	a.kill()
	killed := time.Now()
	mu.Lock()
	killedFlag = true
	mu.Unlock()
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("posting through nginx: %v", errs)
	}
	retried := 0
	for _, n := range attempts {
		if n > 1 {
			retried++
		}
	}
	t.Logf("%d posts acknowledged (%d after the kill), %d needed a retry; last %s after the kill",
		len(acked), afterKill, retried, time.Since(killed).Round(time.Millisecond))
	if afterKill == 0 {
		t.Errorf("no post was acknowledged after the kill")
	}

	// PostgreSQL holds every acknowledged post exactly once, seqs 1…n.
	want := dbHistory(t, dsn, conv)
	if !contiguous(want) {
		t.Fatalf("PostgreSQL seqs %v have a hole", seqs(want))
	}
	counts := dbClientIDs(t, dsn, conv)
	for id, m := range acked {
		if counts[id] != 1 {
			t.Errorf("acknowledged post %s (message %d) is in PostgreSQL %d times, want once", id, m.ID, counts[id])
		}
	}
	if len(want) != len(acked) {
		t.Errorf("PostgreSQL holds %d messages, %d were acknowledged", len(want), len(acked))
	}

	for _, c := range clients {
		c.converge(t, convergeTimeout, conv, want)
	}
	moved := 0
	for _, c := range clients {
		connects, resyncs, gapFills, ups, closes := c.stats()
		if ups[0] == a.Addr {
			moved++
			if connects < 2 || ups[len(ups)-1] != b.Addr {
				t.Errorf("%s was on the killed instance: connections %v, want a later one on %s", c.name, ups, b.Addr)
			}
		}
		t.Logf("%s: connections %v, resyncs %d, gaps filled %d, ends %q", c.name, ups, resyncs, gapFills, closes)
	}
	if moved == 0 {
		t.Errorf("no client was on the killed instance")
	}
	t.Logf("%d clients moved to the surviving instance and converged within %s of the kill",
		moved, time.Since(killed).Round(time.Millisecond))
}

// TestSIGTERM_Drain sends SIGTERM to an instance while a request is in
// flight and sockets are open: /readyz answers 503 while the sockets are
// still open; the request in flight completes although the server has
// stopped accepting; the sockets are closed with 1012; the process exits 0.
func TestSIGTERM_Drain(t *testing.T) {
	t.Parallel()
	dsn := dbtest.DSN(t)
	redisURL, prefix := sharedRedis(t)
	a := startParley(t, "parley-a", serverConfig{DSN: dsn, RedisURL: redisURL, Prefix: prefix})

	alice := register(t, a.URL, "alice")
	bob := register(t, a.URL, "bob")
	conv := createChannel(t, a.URL, alice, "drain")
	join(t, a.URL, bob, conv)
	var sockets []*wsConn
	for i := range 3 {
		sockets = append(sockets, connect(t, a.URL, login(t, a.URL, bob), fmt.Sprintf("bob#%d", i)))
	}

	// A post whose body is not sent yet. "Expect: 100-continue" makes the
	// server say when the handler starts reading it, so the request is
	// certainly in flight before the signal.
	body := `{"body":"sent across the shutdown"}`
	c, err := net.Dial("tcp", a.Addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(c, "POST /api/v1/conversations/%d/messages HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		conv, a.Addr, alice.Access, len(body))
	br := bufio.NewReader(c)
	cont, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight post: %v, want 100 Continue", err)
	}
	_ = cont.Body.Close()
	if cont.StatusCode != http.StatusContinue {
		t.Fatalf("in-flight post: got %s, want 100 Continue", cont.Status)
	}

	a.signal(t, syscall.SIGTERM)
	sent := time.Now()

	// /readyz fails while the listener still answers and the sockets are
	// still open, so a load balancer learns of the shutdown first.
	poll := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var notReady time.Time
	within(t, 10*time.Second, "/readyz answering 503", func() bool {
		resp, err := poll.Get(a.URL + "/readyz")
		if err != nil {
			t.Fatalf("/readyz after SIGTERM: %v, want a 503 before the listener closes", err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			notReady = time.Now()
			return true
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz after SIGTERM: %s, want 200 then 503", resp.Status)
		}
		return false
	})
	for _, s := range sockets {
		if s.isClosed() {
			t.Fatalf("%s closed before /readyz failed", s.name)
		}
	}

	// Then the server stops accepting connections…
	within(t, 20*time.Second, "the listener closing", func() bool {
		resp, err := poll.Get(a.URL + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err != nil
	})
	refused := time.Now()

	// …but the request in flight still completes.
	if _, err := c.Write([]byte(body)); err != nil {
		t.Fatalf("send the rest of the in-flight post: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight post, after the listener closed: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight post, after the listener closed: got %s, want 201", resp.Status)
	}
	posted := time.Now()

	// The sockets close with 1012 (service restart), and the process
	// exits 0.
	var first, last time.Time
	for _, s := range sockets {
		code, reason := s.waitClosed(t, 20*time.Second)
		if code != websocket.StatusServiceRestart {
			t.Errorf("%s closed with %d %q, want 1012", s.name, code, reason)
		}
		if first.IsZero() || s.closedAt.Before(first) {
			first = s.closedAt
		}
		if s.closedAt.After(last) {
			last = s.closedAt
		}
	}
	if !a.wait(stopTimeout) {
		t.Fatalf("parley did not exit within %s of SIGTERM", stopTimeout)
	}
	if a.waitErr != nil {
		t.Errorf("parley exited with %v after SIGTERM, want status 0", a.waitErr)
	}
	since := func(x time.Time) time.Duration { return x.Sub(sent).Round(time.Millisecond) }
	t.Logf("after SIGTERM: /readyz 503 at %s, listener closed at %s, in-flight 201 at %s, 1012s from %s to %s, exit at %s",
		since(notReady), since(refused), since(posted), since(first), since(last), time.Since(sent).Round(time.Millisecond))

	if got := dbHistory(t, dsn, conv); len(got) != 1 {
		t.Errorf("PostgreSQL holds %v, want the one in-flight message", got)
	}
}
