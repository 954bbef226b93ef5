// Command parley-bench loads a running Parley server through its public API
// and reports throughput and latency. bench/bench.sh (make bench) runs it
// against a fresh database and compares the figures with pgbench replaying
// the same SQL.
//
// Setup registers users u000…u031 and has user i create channel c000…c031,
// so channel i's first member is user i; the ids must be contiguous, because
// pgbench maps its client i to conversation conv_base+i and user
// user_base+i. Every user also joins c000. Each channel is then seeded with
// -seed messages.
//
// The phases, each a closed loop of concurrent clients that runs for
// -warmup (not measured) and then -duration:
//
//	post         client i posts to channel i, each message with a new client_msg_id; anything but 201 fails
//	post-one     the same, but every client posts to c000: one busy channel
//	post-single  client 0 alone posts to its channel: the latency of a quiet server
//	history      client i reads channel i's latest page (GET …/messages, default limit); anything but 200 fails
//
// Each client keeps one keep-alive connection and speaks HTTP/1.1 on it
// with prebuilt requests (see loadConn), so that the load generator takes
// as little as it can of the CPUs it shares with the server.
//
// Each phase prints a table row and a machine-readable line. With -cpu, the
// line also gives the CPU time per request of each named process (and its
// children) and of this one ("client"), from /proc: on a small machine the
// server, PostgreSQL and the load generator share the CPUs, and CPU time
// per request stays comparable when something else loads the machine.
//
//	BENCH setup clients=32 user_base=1 conv_base=1 seeded=50
//	BENCH post clients=32 seconds=15.00 requests=12000 rps=800.0 p50_ms=38.1 p99_ms=95.0 errors=0 cpu_us_client=70 cpu_us_postgres=340 cpu_us_server=260
//
// Access tokens live 15 minutes and are not refreshed, so a run must finish
// within that.
//
// With -state FILE, the first run does the setup and saves the users, their
// tokens and channels to FILE; later runs with the same FILE skip setup and
// load the same server again. bench/bench.sh runs the phases this way in
// rounds, alternating with pgbench, so that whatever else slows the machine
// meanwhile slows both sides alike.
//
// To see where the server spends its CPU, run it with its private debug
// listener (PARLEY_DEBUG_ADDR=127.0.0.1:6060) and take a profile of the real
// binary while this loads it:
//
//	go tool pprof -top 'http://127.0.0.1:6060/debug/pprof/profile?seconds=20'
//
// Usage:
//
//	parley-bench -url http://127.0.0.1:8080 [-clients 32] [-duration 15s] [-warmup 3s] [-seed 50] [-state FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"parley/bench/procstat"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "parley-bench: %v\n", err)
		os.Exit(1)
	}
}

// config holds the flags.
type config struct {
	baseURL  string
	clients  int
	duration time.Duration
	warmup   time.Duration
	seed     int
	phases   string
	body     string
	password string
	state    string

	procs []procstat.Proc
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("parley-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.baseURL, "url", "", "server base URL, e.g. http://127.0.0.1:8080 (required)")
	fs.IntVar(&cfg.clients, "clients", 32, "concurrent clients, and so users and channels")
	fs.DurationVar(&cfg.duration, "duration", 15*time.Second, "measured time of each phase")
	fs.DurationVar(&cfg.warmup, "warmup", 3*time.Second, "unmeasured load before each phase's measurement")
	fs.IntVar(&cfg.seed, "seed", 50, "messages posted to each channel during setup")
	fs.StringVar(&cfg.phases, "phases", "post,history", "comma-separated phases to run after setup, in order (post, post-one, post-single, history); empty for the setup alone (with -state, to keep it for later runs)")
	fs.StringVar(&cfg.body, "body", "The quick brown fox jumps over the lazy dog while the bench runs.", "message body to post (plain text, no quotes or backslashes)")
	fs.StringVar(&cfg.password, "password", "bench-password-1", "password of the bench users")
	fs.StringVar(&cfg.state, "state", "", "file that keeps the setup (users, tokens, channels) for later runs against the same server")
	fs.Func("cpu", "report the CPU time per request of these processes, as name=pid,… (a process's children count too)", func(s string) error {
		var err error
		cfg.procs, err = procstat.Parse(s, "cpu", "client")
		return err
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	switch {
	case cfg.baseURL == "":
		return errors.New("-url is required")
	case cfg.clients < 1 || cfg.clients > 1000:
		return errors.New("-clients must be 1-1000")
	case cfg.duration <= 0 || cfg.warmup < 0:
		return errors.New("-duration must be positive and -warmup not negative")
	case strings.ContainsAny(cfg.body, "\"\\") || cfg.body == "":
		return errors.New("-body must be non-empty and hold no quotes or backslashes")
	}
	phases := strings.FieldsFunc(cfg.phases, func(r rune) bool { return r == ',' })
	for _, name := range phases {
		if !slices.Contains([]string{"post", "post-one", "post-single", "history"}, name) {
			return fmt.Errorf("-phases: no phase %q (post, post-one, post-single, history)", name)
		}
	}
	cfg.baseURL = strings.TrimSuffix(cfg.baseURL, "/") + "/api/v1"

	api := &apiClient{base: cfg.baseURL, http: newHTTPClient(cfg.clients)}
	setupStart := time.Now()
	users, loaded, err := loadState(cfg.state)
	if err != nil {
		return err
	}
	if !loaded {
		users, err = setup(ctx, api, cfg)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		if err := saveState(cfg.state, users); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "setup: %d users (ids %d-%d), %d channels (ids %d-%d), %d messages each, in %.1fs\n",
			len(users), users[0].userID, users[len(users)-1].userID,
			len(users), users[0].convID, users[len(users)-1].convID, cfg.seed, time.Since(setupStart).Seconds())
		fmt.Fprintf(stdout, "BENCH setup clients=%d user_base=%d conv_base=%d seeded=%d\n",
			len(users), users[0].userID, users[0].convID, cfg.seed)
	} else if len(users) != cfg.clients {
		return fmt.Errorf("-state %s holds %d users, not -clients %d", cfg.state, len(users), cfg.clients)
	}
	api.http.CloseIdleConnections()
	for _, u := range users {
		if u.conn, err = newLoadConn(cfg.baseURL, u, users[0]); err != nil {
			return err
		}
		defer u.conn.close()
	}

	// Each run's client_msg_ids are its own, so a later run with the same
	// -state posts new messages rather than retries.
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	post := func(shared bool) func(ctx context.Context, u *benchUser, k int) error {
		return func(ctx context.Context, u *benchUser, k int) error {
			return u.conn.postMessage(ctx, shared, cfg.body, "b"+runID+"-"+strconv.Itoa(k))
		}
	}
	ops := map[string]func(ctx context.Context, u *benchUser, k int) error{
		"post":        post(false),
		"post-one":    post(true),
		"post-single": post(false),
		"history": func(ctx context.Context, u *benchUser, _ int) error {
			return u.conn.latestHistory(ctx)
		},
	}
	var results []result
	for _, name := range phases {
		op := ops[name]
		active := users
		if name == "post-single" {
			active = users[:1]
		}
		fmt.Fprintf(stderr, "parley-bench: %s: %d clients, %s warm-up + %s\n", name, len(active), cfg.warmup, cfg.duration)
		r := runPhase(ctx, name, active, cfg.warmup, cfg.duration, cfg.procs, op)
		results = append(results, r)
		if r.firstErr != nil {
			printResults(stdout, results)
			return fmt.Errorf("%s: %d failed requests, the first: %w", name, r.errors, r.firstErr)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if len(results) > 0 {
		printResults(stdout, results)
	}
	return nil
}

// newHTTPClient returns the client of setup (the measured phases use
// loadConn), which keeps one idle keep-alive connection per load client.
func newHTTPClient(clients int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2 * clients,
			MaxIdleConnsPerHost: 2 * clients,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// printResults writes the table and one BENCH line per phase.
func printResults(w io.Writer, results []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tclients\tseconds\trequests\treq/s\tp50 ms\tp99 ms\terrors\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%d\t%.1f\t%.2f\t%.2f\t%d\t\n",
			r.name, r.clients, r.elapsed.Seconds(), r.requests, r.rate(), ms(r.p50), ms(r.p99), r.errors)
	}
	_ = tw.Flush()
	for _, r := range results {
		fmt.Fprintf(w, "BENCH %s clients=%d seconds=%.2f requests=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d",
			r.name, r.clients, r.elapsed.Seconds(), r.requests, r.rate(), ms(r.p50), ms(r.p99), r.errors)
		for _, k := range slices.Sorted(maps.Keys(r.cpu)) {
			fmt.Fprintf(w, " cpu_us_%s=%.0f", k, float64(r.cpu[k])/float64(time.Microsecond))
		}
		fmt.Fprintln(w)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
