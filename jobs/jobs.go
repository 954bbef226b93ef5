// Package jobs is Parley's background work, on River
// (github.com/riverqueue/river), a task queue in PostgreSQL: the tasks,
// their handlers, and the queue that runs them in `parley worker` processes
// or inside `parley serve`.
//
// The tasks: message_created fans a new message out to the devices of its
// conversation's members who have no live connection; push delivers one
// device's push, bursts for one device collapsed into one; retention
// deletes the messages channels no longer keep.
//
// A message_created task is inserted in the transaction that stores the
// message (db.Store.OnMessageCreated calls Queue.EnqueueMessages), so it
// commits with the message or not at all: no task is lost if the API
// process dies right after its commit, and there is no outbox to drain.
//
// jobs imports model and push; it declares the storage and presence it
// needs (Store, Presence), which cmd/parley passes in, and never imports
// api, db or notify.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"parley/model"
)

// Config tunes the queue and its handlers. Zero values mean the defaults
// stated on each field.
type Config struct {
	// Concurrency is how many tasks this process runs at once. Default 10.
	Concurrency int
	// PollInterval is how often an idle worker looks for tasks. The queue
	// reaches PostgreSQL through database/sql, which cannot LISTEN, so
	// workers poll. Default 100 ms.
	PollInterval time.Duration
	// MaxAttempts is how many times a task runs before it is discarded
	// into the dead letters. Default 10.
	MaxAttempts int
	// RetryBase is the wait before the first retry of a push; each further
	// retry waits twice as long, up to an hour. Default 5 s.
	RetryBase time.Duration
	// CollapseWindow is how long a push waits for more messages to the
	// same device, which then go out as one push. Default 2 s.
	CollapseWindow time.Duration
	// RetentionInterval is how often retention runs. Default 1 h.
	RetentionInterval time.Duration
	// RetentionBatch is how many messages one retention transaction
	// deletes at most, so it never holds locks for long. Default 500.
	RetentionBatch int
	// Now is the clock retention measures ages by. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = 10
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 5 * time.Second
	}
	if c.CollapseWindow <= 0 {
		c.CollapseWindow = 2 * time.Second
	}
	if c.RetentionInterval <= 0 {
		c.RetentionInterval = time.Hour
	}
	if c.RetentionBatch <= 0 {
		c.RetentionBatch = 500
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Store is the storage the handlers need; *db.Store implements it.
type Store interface {
	// ListPushDevices returns the devices of conversation's members other
	// than sender.
	ListPushDevices(ctx context.Context, conversation model.ConversationID, sender model.UserID) ([]model.Device, error)
	// GetDevice returns ENotFound if the device was removed.
	GetDevice(ctx context.Context, id model.DeviceID) (model.Device, error)
	// DeleteDevice returns ENotFound unless device id is user's.
	DeleteDevice(ctx context.Context, user model.UserID, id model.DeviceID) error
	// GetPushMessage returns the newest message of conversation, and false
	// if user need not hear of it (not a member, read it, or sent it).
	GetPushMessage(ctx context.Context, user model.UserID, conversation model.ConversationID) (model.PushMessage, bool, error)
	// ListRetentionChannels returns up to limit channels with a retention,
	// by id, after id after.
	ListRetentionChannels(ctx context.Context, after model.ConversationID, limit int) ([]model.ChannelRetention, error)
	// ExpireMessages deletes up to batch of conversation's oldest messages
	// created before cutoff, in one short transaction, and returns how many
	// and the seq history now starts at.
	ExpireMessages(ctx context.Context, conversation model.ConversationID, cutoff time.Time, batch int) (deleted, startSeq int64, err error)
}

// Presence tells which users have a live connection on any instance;
// *notify.RedisPresence (several instances) and *notify.MemoryPresence
// (one serve process running the handlers itself) implement it.
type Presence interface {
	Online(ctx context.Context, users []model.UserID) (map[model.UserID]bool, error)
}

// Sender delivers pushes; *push.Sender implements it. Send returns
// push.ErrGone when the endpoint no longer exists and *push.PermanentError
// when retrying cannot help.
type Sender interface {
	Send(ctx context.Context, d model.Device, body []byte) error
}

// Handlers are what the workers need to run the tasks.
type Handlers struct {
	Store    Store
	Presence Presence
	Sender   Sender
}

// Queue is Parley's task queue: a River client on the database. Every
// process that enqueues has one; a process that also runs tasks
// (StartWorkers) works them.
type Queue struct {
	db     *sql.DB
	client *river.Client[*sql.Tx]
	logger *slog.Logger
}

// migrationLockKey is db's: River's migrations take the same advisory lock
// as Parley's own, so processes that start together change the schema one
// at a time.
const migrationLockKey int64 = 0x7061726c6579

// Migrate applies River's own schema migrations (its river_* tables),
// which River versions and upgrades with its releases; cmd/parley runs it
// right after db.Open, which applies Parley's. River applies each version
// in a transaction of its own (one adds an enum value that the next uses,
// which one transaction cannot do), so Migrate holds the migration lock on
// a connection of its own meanwhile: processes that start together change
// the schema one at a time.
func Migrate(ctx context.Context, conn *sql.DB) error {
	migrator, err := rivermigrate.New(riverdatabasesql.New(conn), nil)
	if err != nil {
		return fmt.Errorf("migrate task queue: %w", err)
	}
	lock, err := conn.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate task queue: %w", err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("migrate task queue: %w", err)
	}
	defer func() {
		_, _ = lock.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey)
	}()
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate task queue: %w", err)
	}
	return nil
}

// Open returns a Queue on conn (a database that Migrate has prepared).
// With h it also runs the tasks once Start is called, cfg.Concurrency at a
// time, and schedules retention; without, it only enqueues and manages
// tasks (an API process whose tasks run in `parley worker`, or `parley
// tasks`).
func Open(conn *sql.DB, cfg Config, logger *slog.Logger, h *Handlers) (*Queue, error) {
	cfg = cfg.withDefaults()
	rc := &river.Config{
		Logger:      logger.With("component", "jobs"),
		MaxAttempts: cfg.MaxAttempts,
		// Dead letters stay for an operator to list and retry.
		DiscardedJobRetentionPeriod: 30 * 24 * time.Hour,
		CompletedJobRetentionPeriod: time.Hour,
	}
	if h != nil {
		workers := river.NewWorkers()
		river.AddWorker(workers, &fanoutWorker{cfg: cfg, h: *h, logger: logger})
		river.AddWorker(workers, &pushWorker{cfg: cfg, h: *h, logger: logger})
		river.AddWorker(workers, &retentionWorker{cfg: cfg, store: h.Store, logger: logger})
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Concurrency}}
		rc.FetchPollInterval = cfg.PollInterval
		rc.FetchCooldown = min(cfg.PollInterval, 20*time.Millisecond)
		rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(
			river.PeriodicInterval(cfg.RetentionInterval),
			func() (river.JobArgs, *river.InsertOpts) { return RetentionArgs{}, nil },
			&river.PeriodicJobOpts{ID: "retention", RunOnStart: true},
		)}
	}
	client, err := river.NewClient(riverdatabasesql.New(conn), rc)
	if err != nil {
		return nil, fmt.Errorf("open task queue: %w", err)
	}
	return &Queue{db: conn, client: client, logger: logger}, nil
}

// Start runs the workers until Stop. It is an error without Handlers.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("start workers: %w", err)
	}
	return nil
}

// Stop stops fetching tasks and waits for those running to finish, until
// ctx ends; then it cancels them (they run again later: a task runs at
// least once).
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = q.client.StopAndCancel(context.WithoutCancel(ctx))
	}
	if err != nil && err.Error() != "client not started" {
		return fmt.Errorf("stop workers: %w", err)
	}
	return nil
}

// EnqueueMessages inserts a message_created task for each of msgs in tx,
// the transaction that stores them: db.Store.OnMessageCreated.
func (q *Queue) EnqueueMessages(ctx context.Context, tx *sql.Tx, msgs []model.Message) error {
	params := make([]river.InsertManyParams, len(msgs))
	for i, m := range msgs {
		params[i] = river.InsertManyParams{Args: MessageCreatedArgs{
			ConversationID: m.ConversationID, MessageID: m.ID, Seq: m.Seq, SenderID: m.SenderID,
		}}
	}
	if _, err := q.client.InsertManyFastTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue message_created: %w", err)
	}
	return nil
}

// Task is one task as an operator sees it.
type Task = rivertype.JobRow

// DeadStates are the states of the dead letters: discarded (failed
// MaxAttempts times) and cancelled (failed in a way retrying cannot mend).
var DeadStates = []rivertype.JobState{rivertype.JobStateDiscarded, rivertype.JobStateCancelled}

// List returns up to limit tasks in states, newest first.
func (q *Queue) List(ctx context.Context, states []rivertype.JobState, limit int) ([]*Task, error) {
	params := river.NewJobListParams().States(states...).First(limit).OrderBy(river.JobListOrderByID, river.SortOrderDesc)
	res, err := q.client.JobList(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return res.Jobs, nil
}

// Retry makes task id run again as soon as possible, with its attempts
// counted afresh. Returns ENotFound if there is no such task.
func (q *Queue) Retry(ctx context.Context, id int64) (*Task, error) {
	t, err := q.client.JobRetry(ctx, id)
	if errors.Is(err, river.ErrNotFound) {
		return nil, &model.Error{Code: model.ENotFound, Message: fmt.Sprintf("No task %d.", id)}
	}
	if err != nil {
		return nil, fmt.Errorf("retry task: %w", err)
	}
	return t, nil
}
