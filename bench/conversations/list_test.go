// Package conversations benchmarks GET /api/v1/conversations for a user in
// many busy conversations, through the real handler, store and PostgreSQL:
//
//	scripts/with-test-services.sh go test -run '^$' -bench . -benchtime 200x ./bench/conversations/
//
// The user is in 1,000 channels of 1,000 messages each (1,000,000 in all),
// every 50th deleted, with read markers spread from nothing read to all
// read, so unread counts run up to 1,000. Each benchmark reports p50 and
// p99 latency; the target for a page is a p50 under 20 ms.
package conversations

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"parley/api"
	"parley/auth"
	"parley/db"
	"parley/internal/dbtest"
	"parley/notify"
	"parley/ratelimit"
	"parley/static"
)

const (
	conversations = 1000
	perConv       = 1000
)

// seedSQL gives users me and other conversations channels of perConv
// messages from other, ids in order, as posting them would, with me's read
// marker at a different place in each.
func seedSQL(me, other int64) []string {
	return []string{
		fmt.Sprintf(`INSERT INTO conversations (id, kind, name, created_at, last_seq, last_event_seq, last_change_id, last_message_at)
OVERRIDING SYSTEM VALUE
SELECT i, 'channel', 'bench' || i, now() - interval '1 day', %[2]d, %[2]d, i * %[2]d, now() - (%[1]d - i) * interval '1 second'
FROM generate_series(1, %[1]d) i`, conversations, perConv),
		fmt.Sprintf(`INSERT INTO messages (id, conversation_id, seq, event_seq, change_id, sender_id, body, created_at, deleted_at)
OVERRIDING SYSTEM VALUE
SELECT (c - 1) * %[2]d + s, c, s, s, (c - 1) * %[2]d + s, %[3]d,
	CASE WHEN s %% 50 = 0 THEN '' ELSE 'message number ' || s || ' of a busy conversation' END,
	now() - interval '1 day', CASE WHEN s %% 50 = 0 THEN now() END
FROM generate_series(1, %[1]d) c, generate_series(1, %[2]d) s`, conversations, perConv, other),
		fmt.Sprintf(`INSERT INTO members (conversation_id, user_id, joined_at, last_read_seq)
SELECT i, %[3]d, now() - interval '1 day', (i * 37) %% %[2]d FROM generate_series(1, %[1]d) i
UNION ALL
SELECT i, %[4]d, now() - interval '1 day', %[2]d FROM generate_series(1, %[1]d) i`, conversations, perConv, me, other),
		`SELECT setval('messages_id_seq', (SELECT max(id) FROM messages))`,
		`SELECT setval('conversations_id_seq', (SELECT max(id) FROM conversations))`,
		`VACUUM ANALYZE`,
	}
}

func BenchmarkConversationList(b *testing.B) {
	ctx := context.Background()
	dsn := dbtest.DSN(b)
	store, err := db.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := notify.NewHub(ctx, notify.Config{}, logger, notify.NewMemoryBroker(), store)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = hub.Close(ctx) })
	cfg := api.Config{JWTSecret: []byte(strings.Repeat("s", 32))}
	srv := httptest.NewServer(api.NewServer(cfg, logger, store, ratelimit.NewMemory(), hub,
		auth.NewMemoryTickets(0), notify.NewMemoryPresence(), static.FS))
	b.Cleanup(srv.Close)

	token, me := register(b, srv.URL, "reader")
	_, other := register(b, srv.URL, "writer")
	start := time.Now()
	if err := seed(ctx, dsn, me, other); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d conversations of %d messages in %v", conversations, perConv, time.Since(start).Round(time.Second))

	for _, tt := range []struct {
		name  string
		limit int
		all   bool
	}{
		{"FirstPage100", 100, false},
		{"AllPages500", 500, true},
		{"AllPages100", 100, true},
	} {
		b.Run(tt.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				n := list(b, srv.URL, token, tt.limit, tt.all)
				lat = append(lat, time.Since(t0))
				if want := tt.limit; !tt.all && n != want || tt.all && n != conversations {
					b.Fatalf("got %d conversations", n)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// seed fills the database at dsn.
func seed(ctx context.Context, dsn string, me, other int64) error {
	conn, err := sqlx.ConnectContext(ctx, "postgres", dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range seedSQL(me, other) {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%.60s…: %w", q, err)
		}
	}
	return nil
}

func register(b *testing.B, base, name string) (token string, id int64) {
	b.Helper()
	body := fmt.Sprintf(`{"username": %q, "password": "password of %s"}`, name, name)
	resp, err := http.Post(base+"/api/v1/auth/register", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var t struct {
		AccessToken string `json:"access_token"`
		User        struct {
			ID int64 `json:"id"`
		} `json:"user"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&t) != nil {
		b.Fatalf("register %s: status %d", name, resp.StatusCode)
	}
	return t.AccessToken, t.User.ID
}

// list fetches the first page, or every page, and returns how many
// conversations came.
func list(b *testing.B, base, token string, limit int, all bool) int {
	n := 0
	cursor := ""
	for {
		url := fmt.Sprintf("%s/api/v1/conversations?limit=%d", base, limit)
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var page struct {
			Items      []json.RawMessage `json:"items"`
			HasMore    bool              `json:"has_more"`
			NextCursor string            `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: status %d, %v", url, resp.StatusCode, err)
		}
		n += len(page.Items)
		if !all || !page.HasMore {
			return n
		}
		cursor = page.NextCursor
	}
}
