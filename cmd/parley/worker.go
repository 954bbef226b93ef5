package main

import (
	"context"
	"database/sql"
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
	"github.com/redis/go-redis/v9"

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
	dev := fs.Bool("dev", false, "development mode: text logs, and a generated VAPID key if PARLEY_VAPID_PRIVATE_KEY is unset")
	var ours []setting
	for _, s := range allSettings() {
		switch {
		case strings.HasPrefix(s.env, "PARLEY_TASK_"), strings.HasPrefix(s.env, "PARLEY_PUSH"), strings.HasPrefix(s.env, "PARLEY_VAPID_"),
			s.env == "PARLEY_RETENTION_INTERVAL", s.env == "PARLEY_LOG_FORMAT", s.env == "PARLEY_LOG_LEVEL", s.env == "PARLEY_REDIS_PREFIX",
			s.env == "PARLEY_SHUTDOWN_TIMEOUT":
			ours = append(ours, s)
		}
	}
	flags := map[string]*flagValue{}
	for _, s := range ours {
		if s.flag != "" {
			v := &flagValue{isBool: s.def == "false" || s.def == "true"}
			flags[s.env] = v
			fs.Var(v, s.flag, s.help+" (env "+s.env+", default "+s.def+")")
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley worker [--dev] [flags]\n\nRuns background tasks (push, retention). Needs DATABASE_URL; REDIS_URL to see who is online.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	lookup := func(env string) string {
		if f := flags[env]; f != nil && f.set {
			return strings.TrimSpace(f.s)
		}
		return strings.TrimSpace(getenv(env))
	}
	var errs []error
	cfg, errs := loadTaskConfig(lookup, getenv, *dev, errs)
	format := lookup("PARLEY_LOG_FORMAT")
	if format == "" {
		format = map[bool]string{true: "text", false: "json"}[*dev]
	}
	var level slog.Level
	if v := lookup("PARLEY_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("PARLEY_LOG_LEVEL: %q is not debug, info, warn or error", v))
		}
	}
	shutdownTimeout := 15 * time.Second
	if v := lookup("PARLEY_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("PARLEY_SHUTDOWN_TIMEOUT: %q is not a positive duration such as 15s", v))
		}
		shutdownTimeout = d
	}
	if len(errs) > 0 {
		return fmt.Errorf("bad configuration:\n  %w", joinIndented(errs))
	}
	logger := newLogger(stderr, format, level)
	logger.Info("starting worker", append([]any{"version", version}, cfg.logAttrs()...)...)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	store, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()

	var presence jobs.Presence
	if url := strings.TrimSpace(getenv("REDIS_URL")); url != "" {
		prefix := lookup("PARLEY_REDIS_PREFIX")
		if prefix == "" {
			prefix = "parley:"
		}
		opts, err := redis.ParseURL(url)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %q is not a Redis URL such as redis://localhost:6379/0", redactURL(url))
		}
		client := redis.NewClient(opts)
		defer client.Close()
		pingCtx, cancel := context.WithTimeout(ctx, redisTimeout)
		defer cancel()
		if err := client.Ping(pingCtx).Err(); err != nil {
			return fmt.Errorf("connect to Redis at %s: %w", redactURL(url), err)
		}
		// Only Online is used: the worker holds no connections to report.
		presence = notify.NewRedisPresence(client, prefix, instanceID(), logger)
	} else {
		logger.Warn("REDIS_URL is not set: the worker cannot see who is online, so every member with a device gets pushes")
	}
	tasks, err := openTasks(ctx, strings.TrimSpace(getenv("DATABASE_URL")), cfg, logger, store, presence, true)
	if err != nil {
		return err
	}
	logger.Info("worker running", "concurrency", cfg.Concurrency)
	<-ctx.Done()
	stop()
	logger.Info("worker stopping", "timeout", shutdownTimeout.String())
	tasks.close(context.WithoutCancel(ctx), shutdownTimeout)
	logger.Info("stopped")
	return nil
}
