// Package dbtest gives each test its own migrated PostgreSQL database.
//
// The cluster comes from PARLEY_TEST_DATABASE_URL, an admin DSN (database
// postgres) that the test harness sets; a test fails, never skips, without it.
// Once per test process a template database parley_tmpl_<pid>_<random> is
// created and migrated; each test then gets a clone of it, which is much
// faster than migrating, and drops the clone when it ends. The template
// itself outlives the process (nothing runs after the last test), so names
// are unique per process and the harness's cluster is thrown away whole.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq" // the driver

	"parley/db"
)

// EnvDatabaseURL names the environment variable holding the admin DSN.
const EnvDatabaseURL = "PARLEY_TEST_DATABASE_URL"

// New returns a Store on a fresh, migrated database that is dropped when tb
// ends.
func New(tb testing.TB) *db.Store {
	tb.Helper()
	dsn := DSN(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := db.Open(ctx, dsn)
	if err != nil {
		tb.Fatalf("dbtest: open: %v", err)
	}
	// Cleanups run last-in first-out: this closes before DSN's drop.
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("dbtest: close: %v", err)
		}
	})
	return s
}

// DSN returns the DSN of a fresh, migrated database that is dropped (with
// FORCE, so open connections do not stop it) when tb ends. Use it for tests
// that start a whole server; otherwise use New.
func DSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		tb.Fatalf("dbtest: %s is not set; run the tests with make test, or point it at an admin DSN of a PostgreSQL to test against", EnvDatabaseURL)
	}
	c, err := getCluster(base)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	name := fmt.Sprintf("parley_test_%d_%s_%d", os.Getpid(), c.suffix, c.seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.admin.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE "+c.template); err != nil {
		tb.Fatalf("dbtest: clone template: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := c.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	dsn, err := WithDatabase(base, name)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	return dsn
}

// WithDatabase returns dsn (a postgres:// URL or a key=value string) with
// its database name replaced by name.
func WithDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvDatabaseURL, err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// lib/pq lets a later key override an earlier one.
	return dsn + " dbname=" + name, nil
}

// cluster is what every test in this process shares.
type cluster struct {
	admin    *sql.DB // to the admin database; never closed, it lives as long as the process
	template string
	suffix   string // random, so that names are unique across processes whose pids repeat
	seq      atomic.Int64
}

var (
	clusterMu  sync.Mutex
	clusters   = map[string]*cluster{} // by admin DSN
	clusterErr = map[string]error{}
)

// getCluster returns the shared state for the admin DSN base, creating the
// template on first use.
func getCluster(base string) (*cluster, error) {
	clusterMu.Lock()
	defer clusterMu.Unlock()
	if c, ok := clusters[base]; ok {
		return c, nil
	}
	if err, ok := clusterErr[base]; ok {
		return nil, err
	}
	c, err := newCluster(base)
	if err != nil {
		clusterErr[base] = err
		return nil, err
	}
	clusters[base] = c
	return c, nil
}

func newCluster(base string) (*cluster, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	admin, err := sql.Open("postgres", base)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", EnvDatabaseURL, err)
	}
	admin.SetMaxOpenConns(4)
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("connect to %s: %w", EnvDatabaseURL, err)
	}

	var b [4]byte
	_, _ = rand.Read(b[:])
	c := &cluster{admin: admin, suffix: hex.EncodeToString(b[:])}
	c.template = fmt.Sprintf("parley_tmpl_%d_%s", os.Getpid(), c.suffix)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+c.template); err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("create template: %w", err)
	}
	dsn, err := WithDatabase(base, c.template)
	if err != nil {
		_ = admin.Close()
		return nil, err
	}
	s, err := db.Open(ctx, dsn)
	if err != nil {
		_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+c.template+" WITH (FORCE)")
		_ = admin.Close()
		return nil, fmt.Errorf("migrate template: %w", err)
	}
	// Nothing may be connected to a template while it is cloned.
	if err := s.Close(); err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("close template: %w", err)
	}
	return c, nil
}
