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
	"time"

	"parley/api"
	"parley/db"
	"parley/notify"
	"parley/ratelimit"
	"parley/static"
)

// startServer serves Parley's handler in this process on a free loopback
// port, wired like cmd/parley's serve without REDIS_URL (a single instance:
// in-memory fan-out, presence, tickets and rate limits) with the rate limits
// out of the way, and returns its base URL. It exists for -cpuprofile: a profile of this
// process then shows what the server spends its CPU on. Load-generator
// goroutines carry the pprof label bench=client, so
// `go tool pprof -tagignore bench=client` shows the server alone.
func startServer(ctx context.Context, dsn, logPath string) (url string, stop func(), err error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", nil, err
	}
	store, err := db.Open(ctx, dsn)
	if err != nil {
		_ = logFile.Close()
		return "", nil, fmt.Errorf("open database: %w", err)
	}
	unlimited := api.Rate{N: 1_000_000, Per: time.Second}
	cfg := api.Config{
		JWTSecret: []byte(rand.Text() + rand.Text()), // 52 random base32 characters
		Limits:    api.Limits{AuthPerIP: unlimited, AuthPerUsername: unlimited, PostPerUser: unlimited},
	}
	logger := slog.New(slog.NewJSONHandler(logFile, nil)) // JSON at info, as serve logs by default
	presence := notify.NewMemoryPresence()
	hub, err := notify.NewHub(ctx, notify.Config{Presence: presence}, logger, notify.NewMemoryBroker(), store)
	if err != nil {
		_ = store.Close()
		_ = logFile.Close()
		return "", nil, fmt.Errorf("start event hub: %w", err)
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
		return "", nil, err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop = func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			_ = srv.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "parley-bench: in-process server: %v\n", err)
		}
		_ = hub.Close(shutdownCtx)
		_ = store.Close()
		_ = logFile.Close()
	}
	return "http://" + ln.Addr().String(), stop, nil
}
