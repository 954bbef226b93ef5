package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"parley/db"
	"parley/internal/dbtest"
	"parley/model"
)

// t0 is when every test's clock starts, with microseconds as PostgreSQL
// keeps them.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

// clock is a settable time source for Store.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newStore returns a store on a fresh database whose clock reads t0 until
// advanced.
func newStore(t *testing.T) (*db.Store, *clock) {
	t.Helper()
	s := dbtest.New(t)
	c := &clock{now: t0}
	s.Now = c.Now
	return s, c
}

func mustUser(t *testing.T, s *db.Store, username string) model.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), model.NewUser{Username: username, PasswordHash: "hash-of-" + username})
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", username, err)
	}
	return u
}

func mustAdmin(t *testing.T, s *db.Store, username string) model.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), model.NewUser{Username: username, PasswordHash: "x", IsAdmin: true})
	if err != nil {
		t.Fatalf("CreateUser(%q, admin): %v", username, err)
	}
	return u
}

// mustChannel creates a channel by owner that members join.
func mustChannel(t *testing.T, s *db.Store, name string, owner model.UserID, members ...model.UserID) model.Conversation {
	t.Helper()
	c, err := s.CreateChannel(context.Background(), owner, model.NewChannel{Name: name})
	if err != nil {
		t.Fatalf("CreateChannel(%q): %v", name, err)
	}
	for _, m := range members {
		if _, _, err := s.JoinChannel(context.Background(), m, c.ID); err != nil {
			t.Fatalf("JoinChannel(%d, %d): %v", m, c.ID, err)
		}
	}
	return c
}

func mustPost(t testing.TB, s *db.Store, c model.ConversationID, sender model.UserID, body string) model.Message {
	t.Helper()
	m := model.Message{ConversationID: c, SenderID: sender, Body: body}
	if _, err := s.CreateMessage(context.Background(), &m); err != nil {
		t.Fatalf("CreateMessage(%d, %d): %v", c, sender, err)
	}
	return m
}

// checkCode fails unless err carries code (or is nil when code is "").
func checkCode(t *testing.T, what string, err error, code model.Code) {
	t.Helper()
	if got := model.ErrorCode(err); got != code {
		t.Errorf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
}

// emptyDatabase creates a database with nothing in it, dropped when t ends,
// and returns its DSN.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv(dbtest.EnvDatabaseURL)
	if base == "" {
		t.Fatalf("%s is not set", dbtest.EnvDatabaseURL)
	}
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	name := fmt.Sprintf("parley_empty_%d_%d", os.Getpid(), emptySeq.Add(1))
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	dsn, err := dbtest.WithDatabase(base, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

var emptySeq atomic.Int64

// migrationVersions returns the versions of the files in migrations/, in
// order: what a migrated database must have recorded.
func migrationVersions(t *testing.T) []int64 {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations/*.sql: got %d files (%v), want some", len(files), err)
	}
	var versions []int64
	for _, f := range files {
		prefix, _, _ := strings.Cut(filepath.Base(f), "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		versions = append(versions, v)
	}
	slices.Sort(versions)
	return versions
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ConcurrentInstancesMigrateOnce", func(t *testing.T) {
		t.Parallel()
		dsn := emptyDatabase(t)
		const instances = 4
		errs := make([]error, instances)
		var wg sync.WaitGroup
		for i := range instances {
			wg.Go(func() {
				s, err := db.Open(ctx, dsn)
				if err == nil {
					err = s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Open #%d: got %v, want nil", i, err)
			}
		}

		conn, err := sqlx.Open("postgres", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var versions []int64
		if err := conn.Select(&versions, "SELECT version FROM schema_migrations ORDER BY version"); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(migrationVersions(t), versions); diff != "" {
			t.Errorf("schema_migrations versions, want each file's once (-files +recorded):\n%s", diff)
		}

		// Opening an up-to-date database applies nothing and works.
		s, err := db.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("Open again: %v", err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping: got %v, want nil", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		var n int
		if err := conn.Get(&n, "SELECT count(*) FROM schema_migrations"); err != nil {
			t.Fatal(err)
		}
		if n != len(versions) {
			t.Errorf("schema_migrations rows after reopening: got %d, want %d", n, len(versions))
		}
	})

	// Every connection starts with the session defaults, which the DSN may
	// override.
	t.Run("SessionDefaults", func(t *testing.T) {
		t.Parallel()
		setting := func(s *db.Store, name, want string) {
			t.Helper()
			got, err := s.Setting(ctx, name)
			if err != nil || got != want {
				t.Errorf("%s: got %q, %v; want %q", name, got, err, want)
			}
		}
		s := dbtest.New(t)
		setting(s, "statement_timeout", "30s")
		setting(s, "jit", "off")

		s2, err := db.Open(ctx, dbtest.DSN(t)+"&statement_timeout=5s")
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		setting(s2, "statement_timeout", "5s")
	})

	t.Run("Unreachable", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := db.Open(ctx, "postgres://nobody@/nodb?host=/nonexistent-parley-socket&sslmode=disable")
		if err == nil {
			t.Fatal("Open with a bad DSN: got nil error, want one")
		}
	})
}

func TestStore_Ping(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: got %v, want nil", err)
	}
}
