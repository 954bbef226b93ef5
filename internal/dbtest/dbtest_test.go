package dbtest_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"parley/api"
	"parley/db"
	"parley/internal/dbtest"
)

// The storage contract is checked here rather than in package db's tests, so
// that db's tests keep building while api is being changed.
var _ api.Store = (*db.Store)(nil)

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dsn, want string
	}{
		{"postgres://u:p@localhost:5432/postgres?sslmode=disable", "postgres://u:p@localhost:5432/other?sslmode=disable"},
		{"postgresql://u@/postgres?host=/tmp/pg&sslmode=disable", "postgresql://u@/other?host=/tmp/pg&sslmode=disable"},
		{"postgres://u@localhost", "postgres://u@localhost/other"},
		{"host=/tmp/pg dbname=postgres sslmode=disable", "host=/tmp/pg dbname=postgres sslmode=disable dbname=other"},
	}
	for _, tt := range tests {
		got, err := dbtest.WithDatabase(tt.dsn, "other")
		if err != nil {
			t.Errorf("WithDatabase(%q): %v", tt.dsn, err)
			continue
		}
		if got != tt.want {
			t.Errorf("WithDatabase(%q): got %q, want %q", tt.dsn, got, tt.want)
		}
	}
}

// TestDSN checks that each DSN names a fresh, migrated database of its own,
// and that it is gone once the test that asked for it ends.
func TestDSN(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var names [2]string
	for i := range names {
		t.Run("Clone", func(t *testing.T) {
			conn, err := sql.Open("postgres", dbtest.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var users int
			if err := conn.QueryRowContext(ctx, "SELECT current_database(), (SELECT count(*) FROM users)").Scan(&names[i], &users); err != nil {
				t.Fatalf("query the clone: %v", err)
			}
			if users != 0 {
				t.Errorf("users in a fresh database: got %d, want 0", users)
			}
			// Left open on purpose: the drop must not wait for it.
			if _, err := conn.ExecContext(ctx, "INSERT INTO users (username, display_name, password_hash, created_at) VALUES ('x', 'x', 'x', now())"); err != nil {
				t.Fatal(err)
			}
		})
	}
	if names[0] == names[1] {
		t.Errorf("two clones share the name %q", names[0])
	}

	admin, err := sql.Open("postgres", os.Getenv(dbtest.EnvDatabaseURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, name := range names {
		var exists bool
		if err := admin.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s still exists after its test ended", name)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	s := dbtest.New(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: got %v, want nil", err)
	}
}
