// Command parley-wsbench loads Parley's WebSocket event channel (issue 3's
// load generator). bench/bench-ws.sh starts two instances sharing one
// PostgreSQL and one Redis and runs it; see that script for the setup.
//
// It creates its users, sessions, channels and memberships straight in
// PostgreSQL and mints their access tokens with the servers' secret
// (PARLEY_WSBENCH_JWT_SECRET), opens the WebSockets, posts messages through
// the REST API of both instances, matches every message.created it
// receives to its POST by message_id, and reports four scenarios against
// their targets:
//
//	latency   1,000 clients in 50 channels of 20, 200 POST/s: p99 publish→notify < 20 ms
//	capacity  1,000 members of one channel, unpaced posting: ≥ 100,000 deliveries/s
//	fanout    5,000 members of one channel: POST → last member < 100 ms (median of repeats)
//	memory    10,000 idle WebSockets on one instance: RSS per connection < 16 KiB
//
// Connecting makes the servers announce each member's presence to every
// member online, N²/2 frames per channel: the capacity scenario reports
// that cost at 1,000 members; fanout sidesteps it with -redis (see fanout).
//
// It prints a summary table and one "WSBENCH scenario key=value…" line per
// scenario, and exits 1 if a target is missed, 2 if it could not run.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/lib/pq" // the database/sql driver

	"parley/auth"
	"parley/bench/procstat"
)

func main() {
	code, err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-wsbench:", err)
	}
	os.Exit(code)
}

// options are parley-wsbench's flags.
type options struct {
	urls       []string
	dsn        string
	scenarios  []string
	procs      []procstat.Proc
	sources    int
	dialers    int
	latDur     time.Duration
	warmup     time.Duration
	rate       int
	capDur     time.Duration
	posters    int
	fanMembers int
	repeats    int
	memConns   int
	quietMax   time.Duration
	verbose    bool

	redisURL         string
	debugURL         string
	cpuProfile       string
	cpuDuration      time.Duration
	memProfile       string
	goroutineProfile string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("parley-wsbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("urls", "", "comma-separated base URLs of the instances, e.g. http://127.0.0.1:8081,http://127.0.0.1:8082 (the first one holds the memory scenario's connections)")
	fs.StringVar(&o.dsn, "dsn", "", "PostgreSQL URL of the servers' database, for setup")
	scen := fs.String("scenarios", "memory,latency,capacity,fanout", "scenarios to run, in order")
	pids := fs.String("pids", "", "name=pid pairs of processes to report CPU and memory of, e.g. a=1,b=2,redis=3; a and b are the instances of -urls")
	fs.IntVar(&o.sources, "sources", 4, "loopback source addresses for WebSockets (127.0.0.2 …), for more than ~28,000 ephemeral ports")
	fs.IntVar(&o.dialers, "dial-concurrency", 32, "WebSocket handshakes in flight at once")
	fs.DurationVar(&o.latDur, "latency-duration", 10*time.Second, "latency: how long posting is measured")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "latency and capacity: unmeasured posting before the measurement")
	fs.IntVar(&o.rate, "rate", 200, "latency: messages posted per second")
	fs.DurationVar(&o.capDur, "capacity-duration", 10*time.Second, "capacity: how long deliveries are counted")
	fs.IntVar(&o.posters, "posters", 8, "capacity: concurrent unpaced posters")
	fs.IntVar(&o.fanMembers, "fanout-members", 5000, "fanout: members of the channel, all connected")
	fs.IntVar(&o.repeats, "repeats", 20, "fanout: messages timed")
	fs.IntVar(&o.memConns, "memory-conns", 10000, "memory: idle WebSockets opened to the first instance")
	fs.DurationVar(&o.quietMax, "settle-timeout", 5*time.Minute, "longest wait for the presence events that connecting causes to stop")
	fs.BoolVar(&o.verbose, "v", false, "log every unexpected close")
	fs.StringVar(&o.redisURL, "redis", "", "Redis URL the instances share; with it, fanout's members join by a resync rather than online (see fanout)")
	fs.StringVar(&o.debugURL, "debug-url", "", "the first instance's debug listener (its PARLEY_DEBUG_ADDR), e.g. http://127.0.0.1:6060, to fetch profiles from")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "with -debug-url: write a CPU profile of the first instance over the run's first -cpuprofile-seconds here")
	fs.DurationVar(&o.cpuDuration, "cpuprofile-seconds", 30*time.Second, "with -cpuprofile: how long the CPU profile covers")
	fs.StringVar(&o.memProfile, "memprofile", "", "with -debug-url: write the first instance's heap profile here while the memory scenario's connections are open")
	fs.StringVar(&o.goroutineProfile, "goroutineprofile", "", "with -debug-url: write the first instance's goroutine profile here while the memory scenario's connections are open")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, u := range strings.Split(*urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			if p, err := url.Parse(u); err != nil || p.Host == "" {
				return o, fmt.Errorf("-urls: %q is not a URL", u)
			}
			o.urls = append(o.urls, strings.TrimSuffix(u, "/"))
		}
	}
	switch {
	case o.dsn == "":
		return o, errors.New("-dsn is required")
	case len(o.urls) == 0:
		return o, errors.New("-urls is required")
	case o.debugURL == "" && (o.cpuProfile != "" || o.memProfile != "" || o.goroutineProfile != ""):
		return o, errors.New("profiles need -debug-url: they come from the first instance's debug listener")
	case o.cpuDuration < time.Second:
		return o, errors.New("-cpuprofile-seconds must be at least 1s")
	}
	for _, s := range strings.Split(*scen, ",") {
		switch s = strings.TrimSpace(s); s {
		case "memory", "latency", "capacity", "fanout":
			o.scenarios = append(o.scenarios, s)
		case "":
		default:
			return o, fmt.Errorf("-scenarios: unknown scenario %q", s)
		}
	}
	procs, err := procstat.Parse(*pids, "pids", "gen")
	if err != nil {
		return o, err
	}
	o.procs = procs
	if o.sources < 1 || o.sources > 200 || o.dialers < 1 || o.rate < 1 || o.posters < 1 || o.repeats < 1 {
		return o, errors.New("-sources, -dial-concurrency, -rate, -posters and -repeats must be positive (sources ≤ 200)")
	}
	return o, nil
}

// bench is the state every scenario shares.
type bench struct {
	o            options
	secret       []byte
	db           *sql.DB
	passwordHash string
	start        time.Time
	dialers      []*net.Dialer
	stderr       io.Writer
	logMu        sync.Mutex
	logged       int
	results      []result
}

// now returns the time since the bench started, monotonic, in ns.
func (b *bench) now() int64 { return int64(time.Since(b.start)) }

// logf writes a progress line to stderr; past 50 lines of unexpected
// closes it only counts them unless -v.
func (b *bench) logf(format string, args ...any) {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	if strings.HasPrefix(format, "client ") && !b.o.verbose {
		b.logged++
		if b.logged > 20 {
			if b.logged == 21 {
				fmt.Fprintln(b.stderr, "wsbench: (more client messages suppressed; -v shows them)")
			}
			return
		}
	}
	fmt.Fprintf(b.stderr, "wsbench: "+format+"\n", args...)
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return 2, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	secret := getenv("PARLEY_WSBENCH_JWT_SECRET")
	if len(secret) < auth.MinSecretLen {
		return 2, fmt.Errorf("PARLEY_WSBENCH_JWT_SECRET must hold the servers' PARLEY_JWT_SECRET (at least %d bytes)", auth.MinSecretLen)
	}

	db, err := sql.Open("postgres", o.dsn)
	if err != nil {
		return 2, fmt.Errorf("open database: %w", err)
	}
	defer func() { _ = db.Close() }()
	if err := db.PingContext(ctx); err != nil {
		return 2, fmt.Errorf("connect to the database: %w", err)
	}
	hash, err := auth.HashPassword(randomPassword())
	if err != nil {
		return 2, err
	}
	b := &bench{o: o, secret: []byte(secret), db: db, passwordHash: hash, start: time.Now(), stderr: stderr}
	for i := range o.sources {
		b.dialers = append(b.dialers, &net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))},
			Timeout:   30 * time.Second,
		})
	}

	defer b.startCPUProfile(ctx)()
	for _, s := range o.scenarios {
		var err error
		switch s {
		case "memory":
			err = b.memory(ctx)
		case "latency":
			err = b.latency(ctx)
		case "capacity":
			err = b.capacity(ctx)
		case "fanout":
			err = b.fanout(ctx)
		}
		if err != nil {
			b.printResults(stdout)
			return 2, fmt.Errorf("%s: %w", s, err)
		}
		if ctx.Err() != nil {
			return 2, ctx.Err()
		}
	}
	if failed := b.printResults(stdout); failed {
		return 1, nil
	}
	return 0, nil
}

// randomPassword returns a password nobody knows: the bench users never log in.
func randomPassword() string { return rand.Text() }
