package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"

	"parley/auth"
	"parley/model"
)

// A cohort is the users of one scenario, each with an active session, an
// access token and exactly one channel: user i is in convs[i*len(convs)/len(users)].
type cohort struct {
	users    []int64
	sessions []int64
	tokens   []string
	convs    []int64
}

// conv returns the conversation of user i.
func (c *cohort) conv(i int) int64 { return c.convs[i*len(c.convs)/len(c.users)] }

// members returns the indexes of the users in conversation k.
func (c *cohort) members(k int) []int {
	var m []int
	for i := range c.users {
		if i*len(c.convs)/len(c.users) == k {
			m = append(m, i)
		}
	}
	return m
}

// newCohort creates n users with a session each and nConvs channels that
// they are split into evenly, in one transaction straight into PostgreSQL:
// registering through the API would hash n passwords with argon2id, which
// takes minutes. Every user gets the same password hash, made once by
// auth.HashPassword from a random password nobody knows. Access tokens are
// minted here with the servers' secret, as POST /auth/login would.
func (b *bench) newCohort(ctx context.Context, tag string, n, nConvs int) (*cohort, error) {
	return b.newCohortJoin(ctx, tag, n, nConvs, true)
}

// newCohortJoin is newCohort, with the memberships left out unless join:
// addMembers adds them later.
func (b *bench) newCohortJoin(ctx context.Context, tag string, n, nConvs int, join bool) (*cohort, error) {
	start := time.Now()
	prefix := fmt.Sprintf("wsb%d_%s_", time.Now().UnixNano()%1e9, tag)
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("setup %s: %w", tag, err)
	}
	defer func() { _ = tx.Rollback() }()

	c := &cohort{}
	c.users, err = ids(ctx, tx, `INSERT INTO users (username, display_name, password_hash, created_at)
		SELECT $1 || g, 'Bench user ' || g, $2, now() FROM generate_series(1, $3) g RETURNING id`,
		prefix, b.passwordHash, n)
	if err != nil {
		return nil, fmt.Errorf("setup %s: users: %w", tag, err)
	}
	sessionOf, err := sessions(ctx, tx, c.users)
	if err != nil {
		return nil, fmt.Errorf("setup %s: sessions: %w", tag, err)
	}
	c.convs, err = ids(ctx, tx, `INSERT INTO conversations (kind, name, created_at)
		SELECT 'channel', $1 || g, now() FROM generate_series(1, $2) g RETURNING id`, prefix, nConvs)
	if err != nil {
		return nil, fmt.Errorf("setup %s: channels: %w", tag, err)
	}
	if join {
		if err := c.addMembers(ctx, tx); err != nil {
			return nil, fmt.Errorf("setup %s: %w", tag, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("setup %s: commit: %w", tag, err)
	}

	now := time.Now()
	c.sessions = make([]int64, n)
	c.tokens = make([]string, n)
	for i, u := range c.users {
		c.sessions[i] = sessionOf[u]
		tok, err := auth.NewAccessToken(b.secret, auth.Claims{UserID: model.UserID(u), SessionID: model.SessionID(c.sessions[i])}, now)
		if err != nil {
			return nil, fmt.Errorf("setup %s: %w", tag, err)
		}
		c.tokens[i] = tok
	}
	b.logf("setup %s: %d users, %d channels in %v", tag, n, nConvs, time.Since(start).Round(time.Millisecond))
	return c, nil
}

// ids runs an INSERT … RETURNING id and returns the ids in ascending order.
func ids(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// addMembers makes every user of c a member of its conversation.
func (c *cohort) addMembers(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}) error {
	convOf := make([]int64, len(c.users))
	for i := range c.users {
		convOf[i] = c.conv(i)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO members (conversation_id, user_id, joined_at)
		SELECT c, u, now() FROM unnest($1::bigint[], $2::bigint[]) AS t(c, u)`,
		pq.Array(convOf), pq.Array(c.users)); err != nil {
		return fmt.Errorf("members: %w", err)
	}
	return nil
}

// sessions starts a session for each of users and returns their ids by user.
func sessions(ctx context.Context, tx *sql.Tx, users []int64) (map[int64]int64, error) {
	rows, err := tx.QueryContext(ctx, `INSERT INTO sessions (user_id, created_at, expires_at)
		SELECT u, now(), now() + interval '1 day' FROM unnest($1::bigint[]) u RETURNING user_id, id`, pq.Array(users))
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	sessionOf := make(map[int64]int64, len(users))
	for rows.Next() {
		var u, s int64
		if err := rows.Scan(&u, &s); err != nil {
			return nil, err
		}
		sessionOf[u] = s
	}
	return sessionOf, rows.Err()
}
