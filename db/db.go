// Package db stores Parley's data in PostgreSQL. *Store implements the
// storage contract that package api declares (api.Store), and Open applies
// the schema migrations embedded from migrations/.
//
// It imports model and its drivers (sqlx, lib/pq) only: never api or notify.
//
// Every SQL statement is a package-level const so that benchmarks can replay
// exactly what a request runs (for example with pgbench). The statements on
// the hot paths (posting a message and reading history) are prepared once per
// connection, so pgbench replays them with -M prepared.
package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"parley/model"
)

// Pool settings. Several server instances share one PostgreSQL, so the pool
// is bounded; idle connections are kept (re-connecting costs more than a
// query, and each keeps its prepared statements) but closed after a while so
// a quiet instance gives them back.
//
// PostgreSQL does the most work per CPU with few backends running at once:
// more add context switches and cache misses, not throughput. Requests past
// maxConns in flight wait in database/sql's queue instead. On make bench (2
// CPUs, 32 clients), 12 rather than 50 lowered PostgreSQL's CPU per POST and
// per history GET in each of three paired runs.
const (
	maxConns        = 12
	connMaxIdleTime = 5 * time.Minute
)

// sessionDefaults are run-time parameters sent when each connection starts
// (so they cost no round trip); the DSN may override them. JIT compilation
// suits long analytic queries: here it only adds hundreds of milliseconds
// when the planner overestimates a query, such as counting a large unread
// backlog. The statement timeout bounds every statement on the server's
// side, including those of the hot paths, which run without a context
// that could cancel them (see hot); migrations lift it.
var sessionDefaults = map[string]string{"jit": "off", "statement_timeout": "30s"}

// hot returns ctx without its cancellation, for the statements of the hot
// paths: each takes a millisecond or so, and on a context that can be
// canceled, database/sql and lib/pq each start a goroutine per query to
// watch it, a tenth of a POST's CPU on the server. Canceling would not
// even unblock a query stalled on the network (lib/pq only sends a cancel
// request), and the statement timeout bounds a slow one.
func hot(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

//go:embed migrations/*.sql
var migrations embed.FS

// The defaults of Store.LoginLifetime and Store.RefreshGrace.
const (
	DefaultLoginLifetime = 90 * 24 * time.Hour
	DefaultRefreshGrace  = 30 * time.Second
)

// Store is Parley's storage on PostgreSQL. It is safe for concurrent use.
type Store struct {
	db *sqlx.DB

	// Now returns the current time; every timestamp the store writes and
	// every expiry it checks uses it. Default time.Now. Set it before use.
	Now func() time.Time
	// LoginLifetime is how long a login lives from the moment it starts,
	// however often its tokens are refreshed. Default
	// DefaultLoginLifetime (90 days). Set it before use.
	LoginLifetime time.Duration
	// RefreshGrace is how long after a refresh token's rotation the same
	// token still gets new tokens, as long as the token that replaced it has
	// not been used: a response lost on the way (a phone that timed out, two
	// tabs refreshing at once) then does not end the login. Default
	// DefaultRefreshGrace (30 s); 0 turns the grace off. Set it before use.
	RefreshGrace time.Duration

	// PostBatchSize is the most messages CreateMessage stores in one
	// transaction (DefaultPostBatchSize, 64). PostBatchWait is the longest
	// a batch formed while another was being stored waits to grow to the
	// size of the one before (DefaultPostBatchWait, 500µs; 0 for never). A
	// post that arrives while none is being stored, or after a batch of one,
	// never waits. Set them before use.
	PostBatchSize int
	PostBatchWait time.Duration

	posts postQueue

	// OnMessageCreated, when set, runs inside the transaction that stores
	// each new message (not a retry of one), given the message as stored:
	// what it writes commits or rolls back with the message. cmd/parley
	// sets it to enqueue the push task, which therefore cannot be lost
	// between the commit and the queue. Set it before use. Default none: a
	// message is stored by one statement.
	OnMessageCreated func(ctx context.Context, tx *sql.Tx, msgs []model.Message) error

	// Statements of the hot paths, prepared once per connection.
	createMessageStmt  *sqlx.Stmt
	createMessagesStmt *sqlx.Stmt
	latestMessages     *sqlx.Stmt
	beforeMessages     *sqlx.Stmt
	afterMessages      *sqlx.Stmt
}

// Open connects to the PostgreSQL database at dsn (a lib/pq URL or key=value
// string), checks that it answers, and applies any migration it lacks.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if cfg.Runtime == nil {
		cfg.Runtime = map[string]string{}
	}
	for name, value := range sessionDefaults {
		if _, ok := cfg.Runtime[name]; !ok {
			cfg.Runtime[name] = value
		}
	}
	connector, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	conn := sqlx.NewDb(sql.OpenDB(connector), "postgres")
	conn.SetMaxOpenConns(maxConns)
	conn.SetMaxIdleConns(maxConns)
	conn.SetConnMaxIdleTime(connMaxIdleTime)

	s := &Store{db: conn, Now: time.Now, LoginLifetime: DefaultLoginLifetime, RefreshGrace: DefaultRefreshGrace,
		PostBatchSize: DefaultPostBatchSize, PostBatchWait: DefaultPostBatchWait}
	s.posts.full = make(chan struct{}, 1)
	s.posts.announced = make(chan struct{})
	close(s.posts.announced)
	if err := s.open(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if err := migrate(ctx, s.db); err != nil {
		return err
	}
	for _, p := range []struct {
		stmt **sqlx.Stmt
		sql  string
	}{
		{&s.createMessageStmt, createMessageSQL},
		{&s.createMessagesStmt, createMessagesSQL},
		{&s.latestMessages, latestMessagesSQL},
		{&s.beforeMessages, beforeMessagesSQL},
		{&s.afterMessages, afterMessagesSQL},
	} {
		stmt, err := s.db.PreparexContext(ctx, p.sql) //nolint:sqlclosecheck // kept for the store's life; Close closes it
		if err != nil {
			return fmt.Errorf("prepare statement: %w", err)
		}
		*p.stmt = stmt
	}
	return nil
}

// Close closes the statements and every connection. It is safe to call once.
func (s *Store) Close() error {
	for _, stmt := range []*sqlx.Stmt{s.createMessageStmt, s.createMessagesStmt, s.latestMessages, s.beforeMessages, s.afterMessages} {
		if stmt != nil {
			_ = stmt.Close()
		}
	}
	return s.db.Close()
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// now is the store's clock in UTC.
func (s *Store) now() time.Time { return s.Now().UTC() }

// migrationLockKey identifies Parley's migrations among advisory locks
// (which PostgreSQL scopes to one database). It is "parley" in ASCII.
const migrationLockKey int64 = 0x7061726c6579

const (
	migrationLockSQL        = `SELECT pg_advisory_xact_lock($1)`
	createMigrationTableSQL = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    bigint PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`
	migrationAppliedSQL = `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`
	recordMigrationSQL  = `INSERT INTO schema_migrations (version) VALUES ($1)`
)

// migration is one embedded file, NNNN_name.sql.
type migration struct {
	version int64
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		prefix, _, _ := strings.Cut(base, "_")
		version, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version number", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: version, name: base, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies, in order, each embedded migration the database lacks. Each
// runs in its own transaction holding an advisory lock, so server instances
// that start together apply each migration exactly once. Migrations only go
// forward; one that the database has already recorded is never run again.
func migrate(ctx context.Context, conn *sqlx.DB) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := applyMigration(ctx, conn, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *sqlx.DB, m migration) error {
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()

	if _, err := tx.ExecContext(ctx, migrationLockSQL, migrationLockKey); err != nil {
		return err
	}
	// A migration may rewrite a big table: the statement timeout is for
	// requests.
	if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, createMigrationTableSQL); err != nil {
		return err
	}
	var applied bool
	if err := tx.GetContext(ctx, &applied, migrationAppliedSQL, m.version); err != nil {
		return err
	}
	if applied {
		return nil
	}
	// No arguments: lib/pq sends it as a simple query, which may hold many
	// statements.
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, recordMigrationSQL, m.version); err != nil {
		return err
	}
	return tx.Commit()
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation of
// the named constraint or index.
func isUniqueViolation(err error, constraint string) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == pqerror.UniqueViolation && pqErr.Constraint == constraint
}

// translate maps driver errors onto model codes by SQLSTATE, never by text;
// anything else passes through unchanged.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &model.Error{Code: model.ENotFound, Message: "Not found."}
	}
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return err
	}
	switch pqErr.Code {
	case pqerror.UniqueViolation:
		return &model.Error{Code: model.EConflict, Message: "Already exists."}
	case pqerror.ForeignKeyViolation:
		return &model.Error{Code: model.ENotFound, Message: "Not found."}
	case pqerror.CheckViolation, pqerror.NotNullViolation, pqerror.StringDataRightTruncation,
		pqerror.CharacterNotInRepertoire, pqerror.UntranslatableCharacter,
		pqerror.InvalidTextRepresentation, pqerror.NumericValueOutOfRange:
		return &model.Error{Code: model.EInvalid, Message: "Invalid value."}
	}
	return err
}

// notFound is the ENotFound error for a kind of thing ("Conversation").
func notFound(what string) error {
	return &model.Error{Code: model.ENotFound, Message: what + " not found."}
}

// pageLimit turns a requested page size into one the store serves:
// model.DefaultPageLimit when unset, at most model.MaxPageLimit.
func pageLimit(n int) int {
	switch {
	case n <= 0:
		return model.DefaultPageLimit
	case n > model.MaxPageLimit:
		return model.MaxPageLimit
	}
	return n
}

// escapeLike escapes LIKE's metacharacters (and its escape character,
// backslash) so that s matches only itself.
func escapeLike(s string) string {
	return likeEscaper.Replace(s)
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// nullString stores "" as NULL.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// timePtr returns nil for NULL, else the time in UTC.
func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}
