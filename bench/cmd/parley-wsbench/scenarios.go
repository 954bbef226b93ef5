package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

func all(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// split sends user i to instance i%2: every channel has members on both.
func split(i int) int { return i % 2 }

// afterClose waits until the instances hold no more than fds0 files each
// (within 30 s): the next scenario starts on servers that have let go.
func (b *bench) afterClose(fds0 map[string]int) {
	deadline := time.Now().Add(30 * time.Second)
	for name, n0 := range fds0 {
		pid := b.pidOf(name)
		for pid != 0 && fdCount(pid) > n0+20 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func (b *bench) serverFDs() map[string]int {
	m := map[string]int{}
	for _, name := range []string{"a", "b"} {
		if pid := b.pidOf(name); pid != 0 {
			m[name] = fdCount(pid)
		}
	}
	return m
}

// rss samples VmRSS (kB) of pid every interval until the last n samples
// lie within 0.5 % of each other or limit passes, and returns the largest
// of the last n samples and the process status at the end.
func rss(ctx context.Context, pid, n int, interval, limit time.Duration) (int64, map[string]int64, error) {
	var samples []int64
	var st map[string]int64
	deadline := time.Now().Add(limit)
	for {
		var err error
		if st, err = procStatus(pid); err != nil {
			return 0, nil, err
		}
		samples = append(samples, st["VmRSS"])
		if len(samples) >= n {
			last := samples[len(samples)-n:]
			lo, hi := slices.Min(last), slices.Max(last)
			if float64(hi-lo) <= 0.005*float64(hi) || time.Now().After(deadline) {
				return hi, st, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// memory: -memory-conns idle WebSockets to the first instance, users in
// channels of 10; server RSS per connection.
func (b *bench) memory(ctx context.Context) error {
	const sc = "memory"
	n := b.o.memConns
	co, err := b.newCohort(ctx, "mem", n, max(1, n/10))
	if err != nil {
		return err
	}
	pid := b.pidOf("a")
	if pid == 0 {
		return errors.New("needs -pids a=<pid of the first instance>")
	}
	fds0 := b.serverFDs()
	before, st0, err := rss(ctx, pid, 5, 200*time.Millisecond, 5*time.Second)
	if err != nil {
		return err
	}
	b.logf("memory: instance a RSS %d kB, %d threads; opening %d WebSockets", before, st0["Threads"], n)
	start := time.Now()
	cpu0 := b.cpuTimes()
	clients, err := b.connect(ctx, co, all(n), func(int) int { return 0 })
	if err != nil {
		return err
	}
	connected := time.Since(start)
	cpu := b.cpuSince(cpu0, connected)
	if _, _, err := b.settle(ctx, clients, time.Second); err != nil {
		closeAll(clients)
		return err
	}
	after, st1, err := rss(ctx, pid, 6, 500*time.Millisecond, 30*time.Second)
	if err != nil {
		closeAll(clients)
		return err
	}
	fds := fdCount(pid)
	gen, _ := procStatus(os.Getpid())
	live, slow, lost := liveCount(clients)
	b.writeProfiles(ctx) // after the RSS figure, which fetching them would move
	closeAll(clients)
	perConn := float64(after-before) * 1024 / float64(n)
	b.check(sc, fmt.Sprintf("server RSS per idle WebSocket (%d on a)", n), fmt.Sprintf("%.1f KiB", perConn/1024), "< 16 KiB", perConn < 16*1024)
	b.row(sc, "instance a RSS before → after", fmt.Sprintf("%.1f → %.1f MiB", float64(before)/1024, float64(after)/1024), "", nil)
	b.row(sc, "instance a threads / open files after", fmt.Sprintf("%d / %d", st1["Threads"], fds), "", nil)
	b.row(sc, "connect time (handshake to hello)", fmt.Sprintf("%.1f s", connected.Seconds()), "", nil)
	b.row(sc, "connections cut off", fmt.Sprintf("%d", slow+lost), "", nil)
	b.machine(sc, "conns", n, "live", live, "slow_closed", slow, "lost", lost,
		"rss_before_kb", before, "rss_after_kb", after, "bytes_per_conn", int64(perConn),
		"threads", st1["Threads"], "fds", fds, "gen_rss_kb", gen["VmRSS"],
		"connect_s", fmt.Sprintf("%.2f", connected.Seconds()), cpu)
	b.afterClose(fds0)
	return nil
}

// latency: 1,000 clients in 50 channels of 20, split over both instances;
// -rate messages per second posted through both; publish→notify latency.
func (b *bench) latency(ctx context.Context) error {
	const sc = "latency"
	const users, convs = 1000, 50
	co, err := b.newCohort(ctx, "lat", users, convs)
	if err != nil {
		return err
	}
	members := make([][]int, convs)
	for k := range members {
		members[k] = co.members(k)
	}
	fds0 := b.serverFDs()
	clients, err := b.connect(ctx, co, all(users), split)
	if err != nil {
		return err
	}
	defer closeAll(clients)
	if _, _, err := b.settle(ctx, clients, time.Second); err != nil {
		return err
	}
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	rate := b.o.rate
	total := int(float64(rate) * (b.o.warmup + b.o.latDur).Seconds())
	interval := time.Second / time.Duration(rate)
	posts := make([]post, total)
	jobs := make(chan int, total)
	b.logf("latency: %d clients connected; posting %d messages/s for %v + %v warm-up", users, rate, b.o.latDur, b.o.warmup)

	created0 := createdIn(clients)
	start := time.Now()
	measureFrom := b.now() + int64(b.o.warmup)
	cpu0 := b.cpuTimes()
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				conv := k % convs
				m := members[conv]
				poster := m[(k/convs)%len(m)]
				posts[k] = b.post(ctx, hc, b.o.urls[k%len(b.o.urls)], co.tokens[poster], co.convs[conv])
			}
		}()
	}
	for k := range total {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- k
	}
	close(jobs)
	wg.Wait()
	wall := time.Since(start)
	cpu := b.cpuSince(cpu0, wall)
	nErr, firstErr := postErrors(posts)
	if nErr == len(posts) {
		return fmt.Errorf("every POST failed: %w", firstErr)
	}
	drain(ctx, clients, created0+int64(len(posts)-nErr)*int64(users/convs))
	measured := func(p *post) bool { return p.sent >= measureFrom }
	t := match(clients, posts, measured, [2]int64{measureFrom, measureFrom + int64(b.o.latDur)})
	var postLat []int64
	sentIn := 0
	for i := range posts {
		if p := &posts[i]; p.err == nil && measured(p) {
			postLat = append(postLat, p.acked-p.sent)
			sentIn++
		}
	}
	slices.Sort(postLat)
	live, slow, lost := liveCount(clients)
	achieved := float64(sentIn) / b.o.latDur.Seconds()
	b.check(sc, "publish→notify p99, from POST sent (ms)", ms(pct(t.lat, 99)), "< 20 ms", pct(t.lat, 99) < 20e6 && len(t.lat) > 0)
	b.row(sc, "publish→notify p50, from POST sent (ms)", ms(pct(t.lat, 50)), "", nil)
	b.row(sc, "notify after the 201 arrived p50 / p99 (ms)", ms(pct(t.lat201, 50))+" / "+ms(pct(t.lat201, 99)), "", nil)
	b.row(sc, "POST round trip p50 / p99 (ms)", ms(pct(postLat, 50))+" / "+ms(pct(postLat, 99)), "", nil)
	b.row(sc, "messages/s posted, deliveries/s received", fmt.Sprintf("%.0f, %.0f", achieved, float64(t.inWindow)/b.o.latDur.Seconds()), fmt.Sprintf("%d, %d", rate, rate*users/convs), nil)
	b.check(sc, "missing / duplicate / foreign deliveries", fmt.Sprintf("%d / %d / %d", t.missing, t.dups, t.foreign), "0 / 0 / 0",
		t.missing == 0 && t.dups == 0 && t.foreign == 0 && slow+lost == 0)
	b.check(sc, "failed POSTs / cut-off connections / bad frames", fmt.Sprintf("%d / %d / %d", nErr, slow+lost, t.shapeErrs), "0 / 0 / 0",
		nErr == 0 && slow+lost == 0 && t.shapeErrs == 0)
	b.machine(sc, "clients", users, "channels", convs, "rate", rate, "seconds", b.o.latDur.Seconds(),
		"posted", sentIn, "deliveries", len(t.lat), "p50_ms", ms(pct(t.lat, 50)), "p90_ms", ms(pct(t.lat, 90)),
		"p99_ms", ms(pct(t.lat, 99)), "max_ms", ms(pct(t.lat, 100)),
		"p50_from_201_ms", ms(pct(t.lat201, 50)), "p99_from_201_ms", ms(pct(t.lat201, 99)),
		"post_p50_ms", ms(pct(postLat, 50)), "post_p99_ms", ms(pct(postLat, 99)),
		"missing", t.missing, "duplicates", t.dups, "foreign", t.foreign, "unknown", t.unknown,
		"post_errors", nErr, "live", live, "slow_closed", slow, "lost", lost, "bad_frames", t.shapeErrs, cpu)
	if firstErr != nil {
		b.logf("latency: first POST error: %v", firstErr)
	}
	closeAll(clients)
	b.afterClose(fds0)
	return nil
}

// capacity: 1,000 members of one channel, split over both instances;
// -posters post unpaced; deliveries per second received.
func (b *bench) capacity(ctx context.Context) error {
	const sc = "capacity"
	const users = 1000
	co, err := b.newCohort(ctx, "cap", users, 1)
	if err != nil {
		return err
	}
	fds0 := b.serverFDs()
	connStart := time.Now()
	clients, err := b.connect(ctx, co, all(users), split)
	if err != nil {
		return err
	}
	defer closeAll(clients)
	settleStart := time.Now()
	quiet, _, err := b.settle(ctx, clients, time.Second)
	if err != nil {
		return err
	}
	// Everything but hello so far is presence: each member coming online
	// is announced to every member online. It lasted from the first
	// handshake to the last frame.
	storm := settleStart.Sub(connStart) + quiet
	stormFrames := framesIn(clients) - int64(len(clients))
	b.logf("capacity: %d clients connected (presence: %d frames in %v); %d posters for %v + %v warm-up",
		users, stormFrames, storm.Round(time.Millisecond), b.o.posters, b.o.capDur, b.o.warmup)
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	created0 := createdIn(clients)
	w0 := b.now() + int64(b.o.warmup)
	w1 := w0 + int64(b.o.capDur)
	var (
		next  atomic.Int64
		mu    sync.Mutex
		posts []post
		wg    sync.WaitGroup
	)
	cpu0 := b.cpuTimes()
	start := time.Now()
	for range b.o.posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []post
			for b.now() < w1 && ctx.Err() == nil {
				k := int(next.Add(1))
				mine = append(mine, b.post(ctx, hc, b.o.urls[k%len(b.o.urls)], co.tokens[k%users], co.convs[0]))
			}
			mu.Lock()
			posts = append(posts, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	nErr, firstErr := postErrors(posts)
	if nErr == len(posts) {
		return fmt.Errorf("every POST failed: %w", firstErr)
	}
	drain(ctx, clients, created0+int64(len(posts)-nErr)*users)
	cpu := b.cpuSince(cpu0, time.Since(start))
	used := b.cpuUsed(cpu0)
	inWin := func(p *post) bool { return p.sent >= w0 && p.sent < w1 }
	t := match(clients, posts, inWin, [2]int64{w0, w1})
	postsIn := 0
	var postLat []int64
	for i := range posts {
		if p := &posts[i]; p.err == nil && inWin(p) {
			postsIn++
			postLat = append(postLat, p.acked-p.sent)
		}
	}
	slices.Sort(postLat)
	live, slow, lost := liveCount(clients)
	rate := float64(t.inWindow) / b.o.capDur.Seconds()
	b.check(sc, "deliveries/s received, 1,000 members", fmt.Sprintf("%.0f", rate), "≥ 100000", rate >= 100000)
	// CPU per delivery hardly depends on what else runs on the machine,
	// unlike the rate: it says what two dedicated cores could do at best.
	perDelivery := func(names ...string) float64 {
		var d time.Duration
		for _, n := range names {
			d += used[n]
		}
		return float64(d.Microseconds()) / float64(max(1, t.delivered))
	}
	srvUS, genUS := perDelivery("a", "b", "redis"), perDelivery("gen")
	b.row(sc, "CPU µs per delivery: servers+Redis, generator", fmt.Sprintf("%.1f, %.1f", srvUS, genUS), "", nil)
	b.row(sc, "ceiling on 2 dedicated cores at that cost", fmt.Sprintf("%.0f/s", 2e6/(srvUS+genUS)), "", nil)
	b.row(sc, "messages/s posted (POST p50 / p99 ms)", fmt.Sprintf("%.0f (%s / %s)", float64(postsIn)/b.o.capDur.Seconds(), ms(pct(postLat, 50)), ms(pct(postLat, 99))), "", nil)
	b.row(sc, "publish→notify p50 / p99 under load (ms)", ms(pct(t.lat, 50))+" / "+ms(pct(t.lat, 99)), "", nil)
	b.row(sc, "slow-consumer closes / lost connections", fmt.Sprintf("%d / %d", slow, lost), "", nil)
	b.check(sc, "missing (live conns) / duplicate deliveries", fmt.Sprintf("%d / %d", t.missing, t.dups), "0 / 0", t.missing == 0 && t.dups == 0 && t.foreign == 0)
	b.row(sc, "presence frames on connect (time)", fmt.Sprintf("%d (%.1f s)", stormFrames, storm.Seconds()), "", nil)
	b.machine(sc, "members", users, "posters", b.o.posters, "seconds", b.o.capDur.Seconds(),
		"deliveries_per_s", fmt.Sprintf("%.0f", rate), "posts_per_s", fmt.Sprintf("%.1f", float64(postsIn)/b.o.capDur.Seconds()),
		"post_p50_ms", ms(pct(postLat, 50)), "post_p99_ms", ms(pct(postLat, 99)),
		"p50_ms", ms(pct(t.lat, 50)), "p99_ms", ms(pct(t.lat, 99)),
		"missing", t.missing, "duplicates", t.dups, "foreign", t.foreign, "unknown", t.unknown,
		"post_errors", nErr, "live", live, "slow_closed", slow, "lost", lost, "bad_frames", t.shapeErrs,
		"presence_frames", stormFrames, "presence_s", fmt.Sprintf("%.2f", storm.Seconds()),
		"cpu_us_per_delivery_servers", fmt.Sprintf("%.1f", srvUS), "cpu_us_per_delivery_gen", fmt.Sprintf("%.1f", genUS), cpu)
	if firstErr != nil {
		b.logf("capacity: first POST error: %v", firstErr)
	}
	closeAll(clients)
	b.afterClose(fds0)
	return nil
}

// fanout: -fanout-members members of one channel, split over both
// instances; the time from a POST being sent to its last delivery.
//
// Members who connect while in the channel are announced to every member
// online: N²/2 presence frames, 12.5 million for 5,000, which take minutes
// on two cores and can keep an instance so busy that the other reaps it as
// dead (see the capacity scenario's presence figure for the effect at
// 1,000). With -redis the members therefore connect first, while in no
// conversation (nobody to tell), then join in PostgreSQL, and the instances
// are made to reload every membership the way they do after losing Redis:
// their subscriptions are dropped (CLIENT KILL TYPE pubsub), they report a
// gap, tell their clients to resync and reload. Without -redis they connect
// as members, in batches of 250, each batch's presence frames drained
// before the next so that no send queue overflows.
func (b *bench) fanout(ctx context.Context) error {
	const sc = "fanout"
	n := b.o.fanMembers
	resync := b.o.redisURL != ""
	co, err := b.newCohortJoin(ctx, "fan", n, 1, !resync)
	if err != nil {
		return err
	}
	fds0 := b.serverFDs()
	var clients []*client
	defer func() { closeAll(clients) }()
	start := time.Now()
	how := "online, in batches of 250"
	if resync {
		how = "connected, then joined by a resync"
		if clients, err = b.connect(ctx, co, all(n), split); err != nil {
			return err
		}
		if err := co.addMembers(ctx, b.db); err != nil {
			return fmt.Errorf("setup fan: %w", err)
		}
		if err := b.resyncAll(ctx, clients, co); err != nil {
			return err
		}
	} else {
		const batch = 250
		for i := 0; i < n; i += batch {
			idx := all(min(batch, n-i))
			for j := range idx {
				idx[j] += i
			}
			cs, err := b.connect(ctx, co, idx, split)
			if err != nil {
				return err
			}
			clients = append(clients, cs...)
			if _, _, err := b.settle(ctx, clients, 300*time.Millisecond); err != nil {
				return err
			}
		}
	}
	storm := time.Since(start)
	stormFrames := framesIn(clients) - int64(len(clients)) // all but hello: presence, resync, probes
	b.logf("fanout: %d members %s in %.1f s (%d frames besides hello); timing %d messages", n, how, storm.Seconds(), stormFrames, b.o.repeats)
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	var posts []post
	cpu0 := b.cpuTimes()
	t0 := time.Now()
	for r := range b.o.repeats {
		live, _, _ := liveCount(clients)
		c0 := createdIn(clients)
		p := b.post(ctx, hc, b.o.urls[r%len(b.o.urls)], co.tokens[r%n], co.convs[0])
		posts = append(posts, p)
		if p.err != nil {
			continue
		}
		deadline := time.Now().Add(5 * time.Second)
		for createdIn(clients) < c0+int64(live) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cpu := b.cpuSince(cpu0, time.Since(t0))
	nErr, firstErr := postErrors(posts)
	if nErr == len(posts) {
		return fmt.Errorf("every POST failed: %w", firstErr)
	}
	t := match(clients, posts, func(*post) bool { return true }, [2]int64{})
	var lastLat, postLat []int64
	for _, p := range posts {
		if p.err == nil {
			lastLat = append(lastLat, t.last[p.id]-p.sent)
			postLat = append(postLat, p.acked-p.sent)
		}
	}
	slices.Sort(lastLat)
	slices.Sort(postLat)
	live, slow, lost := liveCount(clients)
	med := pct(lastLat, 50)
	b.check(sc, fmt.Sprintf("POST → last of %d members, median (ms)", n), ms(med), "< 100 ms", med < 100e6 && len(lastLat) > 0)
	b.row(sc, "POST → last member, max (ms)", ms(pct(lastLat, 100)), "", nil)
	b.row(sc, "POST → any member p50 (ms); POST round trip p50", ms(pct(t.lat, 50))+"; "+ms(pct(postLat, 50)), "", nil)
	b.check(sc, "missing / duplicate deliveries", fmt.Sprintf("%d / %d", t.missing, t.dups), "0 / 0", t.missing == 0 && t.dups == 0 && t.foreign == 0)
	b.row(sc, "slow-consumer closes / lost while connecting", fmt.Sprintf("%d / %d", slow, lost), "", nil)
	b.row(sc, "members "+how+": frames, time", fmt.Sprintf("%d, %.1f s", stormFrames, storm.Seconds()), "", nil)
	b.machine(sc, "members", n, "joined", map[bool]string{true: "resync", false: "online"}[resync], "repeats", len(lastLat), "median_ms", ms(med), "max_ms", ms(pct(lastLat, 100)),
		"min_ms", ms(pct(lastLat, 0)), "post_p50_ms", ms(pct(postLat, 50)),
		"missing", t.missing, "duplicates", t.dups, "foreign", t.foreign, "post_errors", nErr,
		"live", live, "slow_closed", slow, "lost", lost, "bad_frames", t.shapeErrs,
		"setup_frames", stormFrames, "setup_s", fmt.Sprintf("%.1f", storm.Seconds()), cpu)
	if firstErr != nil {
		b.logf("fanout: first POST error: %v", firstErr)
	}
	closeAll(clients)
	clients = nil
	b.afterClose(fds0)
	return nil
}

// resyncAll has the instances reload the memberships of every connected
// user: it drops their Redis subscriptions, which they report as a gap
// (telling every client to resync, then reloading memberships), and posts
// probes until one reaches every client. The frames so far are discarded.
func (b *bench) resyncAll(ctx context.Context, clients []*client, co *cohort) error {
	opts, err := redis.ParseURL(b.o.redisURL)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	rc := redis.NewClient(opts)
	defer func() { _ = rc.Close() }()
	if err := rc.ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
		return fmt.Errorf("drop the instances' subscriptions: %w", err)
	}
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(90 * time.Second)
	for r := 0; time.Now().Before(deadline) && ctx.Err() == nil; r++ {
		time.Sleep(500 * time.Millisecond)
		live, _, _ := liveCount(clients)
		c0 := createdIn(clients)
		p := b.post(ctx, hc, b.o.urls[r%len(b.o.urls)], co.tokens[r%len(co.tokens)], co.convs[0])
		if p.err != nil {
			return fmt.Errorf("probe: %w", p.err)
		}
		wait := time.Now().Add(3 * time.Second)
		for createdIn(clients) < c0+int64(live) && time.Now().Before(wait) {
			time.Sleep(5 * time.Millisecond)
		}
		if createdIn(clients) >= c0+int64(live) {
			time.Sleep(200 * time.Millisecond)
			for _, c := range clients {
				c.take()
			}
			b.logf("fanout: memberships reloaded after %d probe(s)", r+1)
			return nil
		}
	}
	return errors.New("the instances did not reload the memberships within 90 s")
}
