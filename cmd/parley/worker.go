package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"

	"parley/db"
	"parley/jobs"
	"parley/notify"
	"parley/push"
)

// taskRunner is the task queue of one process: its database pool, and
// whether it runs the tasks.
type taskRunner struct {
	queue   *jobs.Queue
	conn    *sql.DB
	started bool
	logger  *slog.Logger
}

// openTasks migrates River's schema and opens the queue on a pool of its
// own, so tasks never take the connections requests need. With handlers it
// runs the tasks (serve with PARLEY_RUN_TASKS, or worker); presence may be
// nil (a worker without Redis cannot see who is online: everyone gets
// pushes).
func openTasks(ctx context.Context, dsn string, cfg taskConfig, logger *slog.Logger, store *db.Store, presence jobs.Presence, handlers bool) (*taskRunner, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("open task queue database: %w", err)
	}
	conn := sql.OpenDB(connector)
	conn.SetMaxOpenConns(cfg.Concurrency + 4) // each running task, the fetch loop, leader election, maintenance
	conn.SetMaxIdleConns(cfg.Concurrency + 4)
	conn.SetConnMaxIdleTime(5 * time.Minute)
	if err := jobs.Migrate(ctx, conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	var h *jobs.Handlers
	if handlers {
		sender, err := push.New(cfg.push())
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		h = &jobs.Handlers{Store: store, Presence: presence, Sender: sender}
	}
	queue, err := jobs.Open(conn, cfg.jobs(), logger, h)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	t := &taskRunner{queue: queue, conn: conn, logger: logger}
	if handlers {
		if err := queue.Start(ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		t.started = true
	}
	return t, nil
}

// close lets running tasks finish within timeout, then closes the pool.
func (t *taskRunner) close(ctx context.Context, timeout time.Duration) {
	if t.started {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := t.queue.Stop(ctx); err != nil {
			t.logger.Error("stop tasks", "err", err)
		}
	}
	_ = t.conn.Close()
}

// runWorker runs the background tasks until SIGINT or SIGTERM: `parley
// worker`, on this machine or others, beside serve instances that run with
// PARLEY_RUN_TASKS=false. It needs DATABASE_URL, and REDIS_URL to see who
// is online on the instances.
func runWorker(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg serveConfig // the rows worker reads, from serve's table, fill it
	fs.BoolVar(&cfg.Dev, "dev", false, "development mode: text logs, and a generated VAPID key if PARLEY_VAPID_PRIVATE_KEY is unset")
	var settings []setting
	for _, s := range cfg.settings() {
		switch {
		case strings.HasPrefix(s.env, "PARLEY_TASK_"), strings.HasPrefix(s.env, "PARLEY_PUSH"), strings.HasPrefix(s.env, "PARLEY_VAPID_"),
			s.env == "PARLEY_RUN_TASKS", s.env == "PARLEY_RETENTION_INTERVAL", s.env == "DATABASE_URL", s.env == "REDIS_URL",
			s.env == "PARLEY_REDIS_PREFIX", s.env == "PARLEY_REDIS_CLUSTER", s.env == "PARLEY_LOG_FORMAT", s.env == "PARLEY_LOG_LEVEL", s.env == "PARLEY_SHUTDOWN_TIMEOUT":
			settings = append(settings, s)
		}
	}
	flags := map[string]*flagValue{}
	for _, s := range settings {
		if s.flag != "" {
			_, isBool := s.value.(*boolean)
			v := &flagValue{isBool: isBool}
			flags[s.env] = v
			fs.Var(v, s.flag, s.help+" (env "+s.env+", default "+s.shownDefault()+")")
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley worker [--dev] [flags]\n\nRuns background tasks (push, retention). Needs DATABASE_URL; REDIS_URL to see who is online.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	var errs []error
	for _, s := range settings {
		v := getenv(s.env)
		if f := flags[s.env]; f != nil && f.set {
			v = f.s
		}
		if v = strings.TrimSpace(v); v == "" {
			v = s.def
		}
		if v == "" {
			continue
		}
		if err := s.value.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
		}
	}
	if cfg.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL: not set: give the PostgreSQL connection string"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("bad configuration:\n  %w", joinIndented(errs))
	}
	cfg.Tasks.devKey(cfg.Dev)
	if cfg.LogFormat == "" {
		cfg.LogFormat = map[bool]string{true: "text", false: "json"}[cfg.Dev]
	}
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	attrs := []any{"version", version}
	for _, s := range settings {
		attrs = append(attrs, strings.ToLower(strings.TrimPrefix(s.env, "PARLEY_")), s.value.String())
	}
	logger.Info("starting worker", attrs...)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	store, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()

	var presence jobs.Presence
	if cfg.RedisURL != "" {
		client, err := newRedisClient(cfg)
		if err != nil {
			return err
		}
		defer client.Close()
		pingCtx, cancel := context.WithTimeout(ctx, redisTimeout)
		defer cancel()
		if err := client.Ping(pingCtx).Err(); err != nil {
			return fmt.Errorf("connect to Redis at %s: %w", redactURL(cfg.RedisURL), err)
		}
		// Only Online is used: the worker holds no connections to report.
		presence = notify.NewRedisPresence(client, cfg.RedisPrefix, instanceID(), logger)
	} else {
		logger.Warn("REDIS_URL is not set: the worker cannot see who is online, so every member with a device gets pushes")
	}
	tasks, err := openTasks(ctx, cfg.DatabaseURL, cfg.Tasks, logger, store, presence, true)
	if err != nil {
		return err
	}
	logger.Info("worker running", "concurrency", cfg.Tasks.Concurrency)
	<-ctx.Done()
	stop()
	logger.Info("worker stopping", "timeout", cfg.ShutdownTimeout.String())
	tasks.close(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	logger.Info("stopped")
	return nil
}
