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
	"sync/atomic"
	"syscall"
	"time"

	"parley/api"
	"parley/db"
	"parley/notify"
	"parley/push"
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
	logOut := newLogWriter(stderr, logFlushDelay)
	defer logOut.Close() // last: after every other deferred step has logged
	logger := newLogger(logOut, cfg.LogFormat, cfg.LogLevel)
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
	store.PostBatchSize, store.PostBatchWait = cfg.PostBatchSize, cfg.PostBatchWait
	defer func() {
		if err := store.Close(); err != nil {
			logger.Error("close database", "err", err)
		}
	}()
	store.RefreshGrace = cfg.RefreshGrace
	store.LoginLifetime = cfg.LoginLifetime
	purgeCtx, stopPurge := context.WithCancel(ctx)
	purgeDone := make(chan struct{})
	defer func() { stopPurge(); <-purgeDone }() // before the store closes
	go func() {
		defer close(purgeDone)
		purgeSessions(purgeCtx, logger, store, purgeInterval)
	}()

	sh, err := newShared(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := sh.close(); err != nil {
			logger.Error("close redis", "err", err)
		}
	}()
	hub, err := notify.NewHub(ctx, notify.Config{PingInterval: cfg.PingInterval, Presence: sh.presence}, logger, sh.broker, store)
	if err != nil {
		return fmt.Errorf("start event hub: %w", err)
	}

	if cfg.Tasks.VAPIDGenerated {
		logger.Warn("PARLEY_VAPID_PRIVATE_KEY is not set: using a random VAPID key, so Web Push subscriptions will not survive a restart")
	}
	tasks, err := openTasks(ctx, cfg.DatabaseURL, cfg.Tasks, logger, store, sh.presence, cfg.Tasks.RunTasks)
	if err != nil {
		_ = hub.Close(context.WithoutCancel(ctx))
		return err
	}
	// After the HTTP server has shut down: tasks running then may finish.
	defer tasks.close(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	if cfg.Tasks.Push {
		store.OnMessageCreated = tasks.queue.EnqueueMessages
	}

	if cfg.DebugAddr != "" {
		stopDebug, err := startDebug(cfg.DebugAddr, newDebugMux(), logger)
		if err != nil {
			_ = hub.Close(context.WithoutCancel(ctx))
			return err
		}
		defer stopDebug()
	}

	var draining atomic.Bool
	apiCfg := cfg.apiConfig()
	apiCfg.Draining = draining.Load
	handler := api.NewServer(apiCfg, logger, store, sh.limiter, hub, sh.tickets, sh.presence, static.FS)

	// Listen before serving so that the log names the real address, which
	// matters when PARLEY_ADDR asks for port 0.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = hub.Close(context.WithoutCancel(ctx))
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
		_ = hub.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stop() // a second signal now kills the process the usual way
	return shutdown(context.WithoutCancel(ctx), cfg, logger, &draining, srv, served, hub)
}

// purgeInterval is how often ended logins and expired refresh tokens are
// deleted. Nothing reads them, so an hour late costs only disk.
const purgeInterval = time.Hour

// purgeSessions deletes ended logins and expired refresh tokens once at
// start and then every interval, until ctx ends. Every instance runs it; the
// deletes are idempotent, so that is harmless.
func purgeSessions(ctx context.Context, logger *slog.Logger, store *db.Store, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		sessions, tokens, err := store.PurgeSessions(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("purge sessions", "err", err)
		case sessions+tokens > 0:
			logger.Info("purged sessions", "sessions", sessions, "refresh_tokens", tokens)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// shutdown stops serving in the order that loses no client: /readyz fails
// first, for PARLEY_DRAIN_DELAY, so load balancers send new clients
// elsewhere; then the server stops accepting and lets requests in flight
// finish while the Hub closes live connections with 1012 in paced batches,
// so their clients reconnect to other instances without a thundering herd.
// All of it within PARLEY_SHUTDOWN_TIMEOUT.
func shutdown(ctx context.Context, cfg serveConfig, logger *slog.Logger, draining *atomic.Bool,
	srv *http.Server, served <-chan error, hub *notify.Hub) error {
	logger.Info("shutting down", "drain_delay", cfg.DrainDelay.String(), "timeout", cfg.ShutdownTimeout.String())
	ctx, cancel := context.WithTimeout(ctx, cfg.ShutdownTimeout)
	defer cancel()
	draining.Store(true)
	select {
	case <-time.After(min(cfg.DrainDelay, cfg.ShutdownTimeout/2)):
	case <-ctx.Done():
	}

	// Server-Sent Events streams are requests in flight too: Shutdown waits
	// for them, and the Hub's Close is what ends them.
	hubClosed := make(chan error, 1)
	srv.RegisterOnShutdown(func() { hubClosed <- hub.Close(ctx) })
	err := srv.Shutdown(ctx)
	if err != nil {
		// Requests still running past the deadline are cut off.
		_ = srv.Close()
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		logger.Error("serve", "err", serr)
	}
	if herr := <-hubClosed; herr != nil {
		logger.Warn("live connections closed past the deadline", "err", herr)
	}
	if err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
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
		TrustedProxies: c.TrustedProxies,
		Limits:         c.Limits,
		Push:           api.PushConfig{VAPIDPublicKey: vapidPublicKey(c.Tasks.VAPIDPrivateKey), AllowLoopbackHTTP: c.Tasks.AllowLoopbackHTTP},
	}
}

// vapidPublicKey returns the public key of a checked private key, or "".
func vapidPublicKey(private string) string {
	if private == "" {
		return ""
	}
	public, _ := push.VAPIDPublicKey(private) // loadTaskConfig checked it
	return public
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
