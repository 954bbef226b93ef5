package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"time"

	"parley/api"
	"parley/db"
	"parley/notify"
	"parley/ratelimit"
	"parley/static"
)

// inprocess is a Parley instance served by this process for -inprocess:
// serve has no profiling endpoint, so to see where a server's CPU and
// memory go, run the scenarios against this one and read -cpuprofile and
// -memprofile. Client goroutines carry the pprof label wsbench=client, so
// `go tool pprof -tagignore wsbench=client` shows the server alone in CPU
// and goroutine profiles; in heap profiles, the client's allocations are
// under main.(*client).
type inprocess struct {
	url  string
	stop func()
}

// startInProcess serves Parley's handler on a free loopback port, wired
// like serve without REDIS_URL (in-memory fan-out, presence, tickets and
// rate limits), with a secret it returns and the rate limits out of the way.
func startInProcess(ctx context.Context, dsn, logPath string) (*inprocess, []byte, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	store, err := db.Open(ctx, dsn)
	if err != nil {
		_ = logFile.Close()
		return nil, nil, fmt.Errorf("open database: %w", err)
	}
	secret := []byte(rand.Text() + rand.Text())
	unlimited := api.Rate{N: 1_000_000, Per: time.Second}
	cfg := api.Config{
		JWTSecret: secret,
		Limits:    api.Limits{AuthPerIP: unlimited, AuthPerUsername: unlimited, PostPerUser: unlimited},
	}
	logger := slog.New(slog.NewJSONHandler(logFile, nil)) // info, as serve logs by default
	presence := notify.NewMemoryPresence()
	hub, err := notify.NewHub(ctx, notify.Config{Presence: presence}, logger, notify.NewMemoryBroker(), store)
	if err != nil {
		_ = store.Close()
		_ = logFile.Close()
		return nil, nil, fmt.Errorf("start event hub: %w", err)
	}
	srv := &http.Server{
		Handler: api.NewServer(cfg, logger, store, ratelimit.NewMemory(), hub, notify.NewMemoryTickets(0),
			presence, static.FS),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = hub.Close(ctx)
		_ = store.Close()
		_ = logFile.Close()
		return nil, nil, err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "parley-wsbench: in-process server: %v\n", err)
		}
		_ = hub.Close(sctx)
		_ = store.Close()
		_ = logFile.Close()
	}
	return &inprocess{url: "http://" + ln.Addr().String(), stop: stop}, secret, nil
}

// runtimeSample is this process's memory after a full GC.
type runtimeSample struct {
	goroutines int
	heapInuse  uint64
	stackInuse uint64
	sys        uint64
}

func sampleRuntime() runtimeSample {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtimeSample{goroutines: runtime.NumGoroutine(), heapInuse: m.HeapInuse, stackInuse: m.StackInuse, sys: m.Sys}
}

// clientLabels marks a client's read goroutine for pprof.
var clientLabels = pprof.Labels("wsbench", "client")

// memoryInProcess reports the in-process instance's memory per idle
// connection as the Go runtime sees it (this process holds the clients too:
// one goroutine, a 4 KiB bufio.Reader and a socket each), and writes the
// heap and goroutine profiles while the connections are open.
func (b *bench) memoryInProcess(ctx context.Context, clients []*client, before runtimeSample) {
	const sc = "memory"
	n := len(clients)
	after := sampleRuntime()
	per := func(a, b uint64) string { return fmt.Sprintf("%.1f KiB", float64(int64(a)-int64(b))/float64(n)/1024) }
	b.row(sc, "in-process: goroutines per connection (srv+client)", fmt.Sprintf("%.2f", float64(after.goroutines-before.goroutines)/float64(n)), "", nil)
	b.row(sc, "in-process: heap in use per connection (srv+client)", per(after.heapInuse, before.heapInuse), "", nil)
	b.row(sc, "in-process: stacks per connection (srv+client)", per(after.stackInuse, before.stackInuse), "", nil)
	b.row(sc, "in-process: runtime Sys per connection (srv+client)", per(after.sys, before.sys), "", nil)
	start := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	metrics.Read(start)
	stackStart := uint64(0)
	if start[0].Value.Kind() == metrics.KindUint64 {
		stackStart = start[0].Value.Uint64()
	}
	b.row(sc, "in-process: a new goroutine's stack (bytes)", fmt.Sprintf("%d", stackStart), "", nil)
	b.machine(sc+"-inprocess", "conns", n, "stack_starting_size", stackStart, "goroutines_before", before.goroutines, "goroutines_after", after.goroutines,
		"heap_inuse_before", before.heapInuse, "heap_inuse_after", after.heapInuse,
		"stack_inuse_before", before.stackInuse, "stack_inuse_after", after.stackInuse,
		"sys_before", before.sys, "sys_after", after.sys)
	for _, p := range []struct{ name, file string }{{"heap", b.o.memProfile}, {"goroutine", b.o.goroutineProfile}} {
		if p.file == "" {
			continue
		}
		f, err := os.Create(p.file)
		if err == nil {
			err = pprof.Lookup(p.name).WriteTo(f, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			b.logf("write %s profile: %v", p.name, err)
		}
	}
}
