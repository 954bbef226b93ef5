// Package inprocess serves a Parley instance inside a load generator's own
// process (cmd/parley-bench, cmd/parley-wsbench), so that a CPU or heap
// profile of that process shows what the server spends its time and memory
// on: serve has no profiling endpoint.
package inprocess

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

// Server is an instance wired like serve without REDIS_URL (in-memory
// fan-out, presence, tickets and rate limits), with the rate limits out of
// the way and a random JWT secret.
type Server struct {
	// URL is the base URL, http://127.0.0.1:PORT.
	URL string
	// Secret signs the instance's access tokens, for load generators that
	// mint their own.
	Secret []byte

	srv     *http.Server
	served  chan error
	hub     *notify.Hub
	store   *db.Store
	logFile *os.File
}

// Start opens the database at dsn, logs JSON at info (as serve does by
// default) to a new file at logPath, and serves on a free loopback port.
func Start(ctx context.Context, dsn, logPath string) (*Server, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	store, err := db.Open(ctx, dsn)
	if err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	secret := []byte(rand.Text() + rand.Text()) // 52 random base32 characters
	unlimited := api.Rate{N: 1_000_000, Per: time.Second}
	cfg := api.Config{
		JWTSecret: secret,
		Limits:    api.Limits{AuthPerIP: unlimited, AuthPerUsername: unlimited, PostPerUser: unlimited},
	}
	logger := slog.New(slog.NewJSONHandler(logFile, nil))
	presence := notify.NewMemoryPresence()
	hub, err := notify.NewHub(ctx, notify.Config{Presence: presence}, logger, notify.NewMemoryBroker(), store)
	if err != nil {
		_ = store.Close()
		_ = logFile.Close()
		return nil, fmt.Errorf("start event hub: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = hub.Close(ctx)
		_ = store.Close()
		_ = logFile.Close()
		return nil, err
	}
	s := &Server{
		URL:    "http://" + ln.Addr().String(),
		Secret: secret,
		srv: &http.Server{
			Handler: api.NewServer(cfg, logger, store, ratelimit.NewMemory(), hub, notify.NewMemoryTickets(0),
				presence, static.FS),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
		served:  make(chan error, 1),
		hub:     hub,
		store:   store,
		logFile: logFile,
	}
	go func() { s.served <- s.srv.Serve(ln) }()
	return s, nil
}

// Stop shuts the server down within 5 s, closes the hub, the database and
// the log, and returns the error serving ended with, if it was not the
// shutdown.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	err := <-s.served
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	_ = s.hub.Close(ctx)
	_ = s.store.Close()
	_ = s.logFile.Close()
	return err
}
