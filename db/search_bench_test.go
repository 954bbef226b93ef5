package db_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"

	"parley/db"
	"parley/internal/dbtest"
	"parley/model"
)

// seedBig fills a fresh database with 100,000 channels (names
// "topic-<n>-<word>", each with its creator as member), 50,000 users and
// one channel, "everyone", of which 10,000 of them are members, for the
// search and member-list benchmarks.
func seedBig(b *testing.B) (*db.Store, model.UserID, model.ConversationID) {
	b.Helper()
	dsn := dbtest.DSN(b)
	lastDSN = dsn
	ctx := context.Background()
	conn, err := sqlx.ConnectContext(ctx, "postgres", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		`INSERT INTO users (username, display_name, password_hash, created_at)
		 SELECT 'user' || n, 'User ' || n, 'x', now() FROM generate_series(1, 10000) n`,
		`INSERT INTO conversations (kind, name, created_at)
		 SELECT 'channel', 'topic-' || n || '-' || (ARRAY['rust','golang','chess','music','cats','hiking','films','books'])[1 + n % 8], now()
		 FROM generate_series(1, 100000) n`,
		`INSERT INTO members (conversation_id, user_id, joined_at) -- every channel has its creator
		 SELECT c.id, 1 + c.id % 10000, now() FROM conversations c`,
		`INSERT INTO conversations (kind, name, created_at) VALUES ('channel', 'everyone', now())`,
		`INSERT INTO members (conversation_id, user_id, joined_at)
		 SELECT (SELECT id FROM conversations WHERE name = 'everyone'), id, now() FROM users`,
		`INSERT INTO users (username, display_name, password_hash, created_at) -- and people elsewhere
		 SELECT 'other' || n, 'Other ' || n, 'x', now() FROM generate_series(1, 40000) n`,
		`ANALYZE`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	var user, conv int64
	if err := conn.GetContext(ctx, &user, `SELECT id FROM users WHERE username = 'user5000'`); err != nil {
		b.Fatal(err)
	}
	if err := conn.GetContext(ctx, &conv, `SELECT id FROM conversations WHERE name = 'everyone'`); err != nil {
		b.Fatal(err)
	}
	s, err := db.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s, model.UserID(user), model.ConversationID(conv)
}

// BenchmarkBigChannelLists measures channel search among 100,000 channels
// (served by the trigram index of migration 0003) and member pages of a
// 10,000-member channel:
//
//	scripts/with-test-services.sh go test -run '^$' -bench BigChannelLists -benchtime 200x ./db/
func BenchmarkBigChannelLists(b *testing.B) {
	s, user, conv := seedBig(b)
	ctx := context.Background()
	search := func(q string) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				if _, _, err := s.ListChannels(ctx, user, model.ChannelFilter{Query: q, Limit: 50}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("SearchCommon", search("golang"))    // 12,500 matches, first 50 by name
	b.Run("SearchRare", search("topic-99999")) // one match
	b.Run("SearchNone", search("zzzqqq"))      // no match at all
	b.Run("MembersFirstPage", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := s.ListMembers(ctx, user, conv, model.MemberFilter{Limit: 50}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("MembersDeepPage", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := s.ListMembers(ctx, user, conv, model.MemberFilter{After: "user9000", Limit: 50}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SearchCommonNoTrigramIndex", func(b *testing.B) { // last: it drops the index
		if _, err := rawExec(lastDSN, `DROP INDEX conversations_name_trgm_idx`); err != nil {
			b.Fatal(err)
		}
		search("golang")(b)
	})
	b.Run("SearchNoneNoTrigramIndex", search("zzzqqq"))
}

var lastDSN string

// rawExec runs one statement on the database at dsn.
func rawExec(dsn, q string) (int64, error) {
	conn, err := sqlx.Connect("postgres", dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	res, err := conn.Exec(q)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
