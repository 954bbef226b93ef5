package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"parley/api"
	"parley/db"
	"parley/ratelimit"
	"parley/static"
)

// Timeouts of the HTTP server. Request bodies are capped at 64 KiB, so a
// client that needs more than ReadTimeout to send one is stalling; handlers
// answer from one database round trip or a few, so WriteTimeout is generous.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
)

// runServe runs the HTTP server until ctx ends or SIGINT/SIGTERM arrives,
// then shuts down gracefully: it stops accepting, lets requests in flight
// finish within PARLEY_SHUTDOWN_TIMEOUT, and closes the store.
func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, help, err := loadServeConfig(args, getenv, stderr)
	if help || err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	logger.Info("starting", append([]any{"version", version}, cfg.logAttrs()...)...)
	if cfg.SecretGenerated {
		logger.Warn("PARLEY_JWT_SECRET is not set: using a random secret, so tokens will not survive a restart")
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	store, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			logger.Error("close database", "err", err)
		}
	}()

	handler := api.NewServer(cfg.apiConfig(), logger, store, ratelimit.NewMemory(), static.FS)

	// Listen before serving so that the log names the real address, which
	// matters when PARLEY_ADDR asks for port 0.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "url", localURL(ln.Addr()))

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stop() // a second signal now kills the process the usual way
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Requests still running past the deadline are cut off.
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			logger.Error("serve", "err", err)
		}
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// apiConfig is the part of the configuration the handlers take.
func (c serveConfig) apiConfig() api.Config {
	return api.Config{
		JWTSecret:      c.JWTSecret,
		HistoryLimit:   c.HistoryLimit,
		AllowedOrigins: c.AllowedOrigins,
		TrustProxy:     c.TrustProxy,
		Limits:         c.Limits.api(),
	}
}

// localURL is a URL a person on this machine can open for addr: a wildcard
// address becomes localhost.
func localURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return ""
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}
