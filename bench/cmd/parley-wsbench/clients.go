package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// connect opens a WebSocket for each user of co in idxs, user i to
// instance inst(i), at most -dial-concurrency handshakes at a time, and
// waits until every one has received hello. On error it closes what it
// opened.
func (b *bench) connect(ctx context.Context, co *cohort, idxs []int, inst func(i int) int) ([]*client, error) {
	clients := make([]*client, len(idxs))
	sem := make(chan struct{}, b.o.dialers)
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for j, i := range idxs {
		select {
		case sem <- struct{}{}:
		case <-dctx.Done():
		}
		if dctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := &client{b: b, idx: i, conv: co.conv(i), hello: make(chan struct{}), done: make(chan struct{})}
			u, _ := url.Parse(b.o.urls[inst(i)%len(b.o.urls)])
			if err := c.dial(dctx, b.dialers[j%len(b.dialers)], u.Host, co.tokens[i]); err != nil {
				errOnce.Do(func() { first = fmt.Errorf("websocket of user %d: %w", i, err); cancel() })
				return
			}
			clients[j] = c
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	if first == nil {
		first = waitHello(ctx, clients, 60*time.Second)
	}
	if first != nil {
		closeAll(clients)
		return nil, first
	}
	return clients, nil
}

// waitHello waits until every client has its hello.
func waitHello(ctx context.Context, clients []*client, limit time.Duration) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for _, c := range clients {
		select {
		case <-c.hello:
		case <-c.done:
			return fmt.Errorf("user %d: the connection ended before hello (close code %d)", c.idx, c.closeCode.Load())
		case <-deadline.C:
			return fmt.Errorf("no hello within %v on user %d's connection", limit, c.idx)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// framesIn returns the text frames clients have received so far.
func framesIn(clients []*client) int64 {
	var n int64
	for _, c := range clients {
		n += c.frames.Load()
	}
	return n
}

// createdIn returns the message.created frames clients have received.
func createdIn(clients []*client) int64 {
	var n int64
	for _, c := range clients {
		n += c.created.Load()
	}
	return n
}

// settle waits until clients receive nothing for idle: connecting makes
// the servers announce each user's presence to the members of its
// channels. It returns how long that took and how many frames came.
func (b *bench) settle(ctx context.Context, clients []*client, idle time.Duration) (time.Duration, int64, error) {
	start := time.Now()
	n0 := framesIn(clients)
	last, lastChange := n0, time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-tick.C:
		}
		n := framesIn(clients)
		if n != last {
			last, lastChange = n, time.Now()
		}
		if time.Since(lastChange) >= idle {
			return lastChange.Sub(start), last - n0, nil
		}
		if time.Since(start) > b.o.quietMax {
			return 0, 0, fmt.Errorf("frames still arriving after %v (%d so far)", b.o.quietMax, last-n0)
		}
	}
}

// liveCount returns how many clients were not cut off.
func liveCount(clients []*client) (live, slow, lost int) {
	for _, c := range clients {
		switch {
		case c.closeCode.Load() == 1008:
			slow++
		case c.lost.Load():
			lost++
		default:
			live++
		}
	}
	return live, slow, lost
}

// A post is one POST of a message and what came of it.
type post struct {
	conv  int64
	id    int64 // message id from the 201
	sent  int64 // when the request was handed to the connection, ns since start
	acked int64 // when the 201 was read
	err   error

	live int // distinct deliveries to clients that stayed connected
}

var postBody = []byte(`{"body":"The quick brown fox jumps over the lazy dog while wsbench runs."}`)

// newHTTPClient returns the posters' client: keep-alive connections to
// every instance, never more than a poster needs.
func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute},
	}
}

// post sends one message to conv through the instance at base as the
// owner of token.
func (b *bench) post(ctx context.Context, hc *http.Client, base, token string, conv int64) post {
	p := post{conv: conv}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		base+"/api/v1/conversations/"+strconv.FormatInt(conv, 10)+"/messages", bytes.NewReader(postBody))
	if err != nil {
		p.err = err
		return p
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	p.sent = b.now()
	resp, err := hc.Do(req)
	if err != nil {
		p.err = err
		return p
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	p.acked = b.now()
	if err != nil {
		p.err = err
		return p
	}
	if resp.StatusCode != http.StatusCreated {
		p.err = fmt.Errorf("POST message: status %d: %s", resp.StatusCode, bytes.TrimSpace(body))
		return p
	}
	var m struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.ID <= 0 {
		p.err = fmt.Errorf("POST message: no id in the response")
		return p
	}
	p.id = m.ID
	return p
}

// tally is what the frames clients recorded say about posts.
type tally struct {
	delivered int64 // distinct deliveries of known messages, all clients
	dups      int64 // a client receiving a message again
	unknown   int64 // message ids that no post of ours returned
	foreign   int64 // a message of a conversation the client's user is not in
	missing   int64 // expected deliveries to live clients that never came
	lat       []int64
	lat201    []int64
	last      map[int64]int64 // message id → latest receipt time
	shapeErrs int64
	inWindow  int64 // deliveries received within the window given to match
}

// match takes every client's recorded frames and matches them to posts by
// message id. A delivery's latency counts when measured(post) holds.
// Clients that were cut off are not expected to receive anything.
// Deliveries received within win (start, end, in ns since the bench
// started) are counted in inWindow.
func match(clients []*client, posts []post, measured func(*post) bool, win [2]int64) tally {
	var t tally
	t.last = make(map[int64]int64, len(posts))
	byID := make(map[int64]*post, len(posts))
	for i := range posts {
		if posts[i].err == nil {
			byID[posts[i].id] = &posts[i]
		}
	}
	liveIn := map[int64]int{}
	for _, c := range clients {
		t.shapeErrs += c.shapeErrs.Load()
		live := c.closeCode.Load() == 0 && !c.lost.Load()
		if live {
			liveIn[c.conv]++
		}
		recs := c.take()
		slices.SortFunc(recs, func(a, b rec) int {
			if a.id != b.id {
				return int(a.id - b.id)
			}
			return int(a.t - b.t)
		})
		prev := int64(-1)
		for _, r := range recs {
			p := byID[r.id]
			switch {
			case p == nil:
				t.unknown++
				continue
			case p.conv != c.conv:
				t.foreign++
				continue
			case r.id == prev:
				t.dups++
				continue
			}
			prev = r.id
			t.delivered++
			if r.t >= win[0] && r.t < win[1] {
				t.inWindow++
			}
			if live {
				p.live++
			}
			if r.t > t.last[r.id] {
				t.last[r.id] = r.t
			}
			if measured(p) {
				t.lat = append(t.lat, r.t-p.sent)
				t.lat201 = append(t.lat201, r.t-p.acked)
			}
		}
	}
	for i := range posts {
		if p := &posts[i]; p.err == nil {
			t.missing += int64(max(0, liveIn[p.conv]-p.live))
		}
	}
	slices.Sort(t.lat)
	slices.Sort(t.lat201)
	return t
}

// drain waits until clients have received want message.created frames in
// all, or nothing more arrives for a second, or 15 s pass.
func drain(ctx context.Context, clients []*client, want int64) {
	deadline := time.Now().Add(15 * time.Second)
	last, lastChange := createdIn(clients), time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n := createdIn(clients)
		if n >= want {
			return
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > time.Second {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// postErrors counts failed posts and returns the first failure.
func postErrors(posts []post) (int, error) {
	n := 0
	var first error
	for _, p := range posts {
		if p.err != nil {
			if first == nil {
				first = p.err
			}
			n++
		}
	}
	return n, first
}
