package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"parley/model"
)

const (
	insertUserSQL = `INSERT INTO users (username, display_name, password_hash, is_admin, created_at)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, username, display_name, is_admin, created_at`

	selectUserSQL = `SELECT id, username, display_name, is_admin, created_at FROM users WHERE id = $1`

	selectUserCredentialsSQL = `SELECT id, username, display_name, is_admin, created_at, password_hash
FROM users WHERE lower(username) = lower($1)`

	// $1 is an escaped LIKE prefix pattern ("%" matches everyone); $2 the
	// exclusive cursor.
	listUsersSQL = `SELECT id, username, display_name, is_admin, created_at FROM users
WHERE (lower(username) LIKE lower($1) OR lower(display_name) LIKE lower($1))
	AND lower(username) > lower($2)
ORDER BY lower(username)
LIMIT $3`
)

type userRow struct {
	ID          int64     `db:"id"`
	Username    string    `db:"username"`
	DisplayName string    `db:"display_name"`
	IsAdmin     bool      `db:"is_admin"`
	CreatedAt   time.Time `db:"created_at"`
}

func (r userRow) toModel() model.User {
	return model.User{
		ID:          model.UserID(r.ID),
		Username:    r.Username,
		DisplayName: r.DisplayName,
		IsAdmin:     r.IsAdmin,
		CreatedAt:   r.CreatedAt.UTC(),
	}
}

// CreateUser creates an account; an empty DisplayName becomes the username.
// Returns EInvalid if the username is malformed, EConflict if it is taken,
// whatever its case.
func (s *Store) CreateUser(ctx context.Context, u model.NewUser) (model.User, error) {
	if err := model.ValidateUsername(u.Username); err != nil {
		return model.User{}, err
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Username
	}
	var row userRow
	err := sqlx.GetContext(ctx, s.db, &row, insertUserSQL, u.Username, u.DisplayName, u.PasswordHash, u.IsAdmin, s.now())
	if err != nil {
		err = translate(err)
		if model.ErrorCode(err) == model.EConflict {
			return model.User{}, &model.Error{Code: model.EConflict, Message: "That username is taken."}
		}
		return model.User{}, fmt.Errorf("create user: %w", err)
	}
	return row.toModel(), nil
}

// GetUser returns the user with id. Returns ENotFound if there is none.
func (s *Store) GetUser(ctx context.Context, id model.UserID) (model.User, error) {
	var row userRow
	if err := sqlx.GetContext(ctx, s.db, &row, selectUserSQL, id); err != nil {
		return model.User{}, userError("get user", err)
	}
	return row.toModel(), nil
}

// GetUserCredentials returns the user with this username (any case) and the
// stored password hash. Returns ENotFound if there is none.
func (s *Store) GetUserCredentials(ctx context.Context, username string) (model.User, string, error) {
	var row struct {
		userRow
		PasswordHash string `db:"password_hash"`
	}
	if err := sqlx.GetContext(ctx, s.db, &row, selectUserCredentialsSQL, username); err != nil {
		return model.User{}, "", userError("get user credentials", err)
	}
	return row.toModel(), row.PasswordHash, nil
}

// ListUsers returns up to f.Limit users (15 when zero, at most
// model.MaxPageLimit) whose username or display name starts with f.Query,
// ignoring case, ordered by lowercased username after f.After, and whether
// more follow.
func (s *Store) ListUsers(ctx context.Context, f model.UserFilter) ([]model.User, bool, error) {
	limit := pageLimit(f.Limit)
	var rows []userRow
	err := sqlx.SelectContext(ctx, s.db, &rows, listUsersSQL, escapeLike(f.Query)+"%", f.After, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("list users: %w", translate(err))
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	users := make([]model.User, len(rows))
	for i, r := range rows {
		users[i] = r.toModel()
	}
	return users, more, nil
}

// userError names a missing user ENotFound and wraps anything else.
func userError(op string, err error) error {
	err = translate(err)
	var e *model.Error
	if errors.As(err, &e) && e.Code == model.ENotFound {
		return notFound("User")
	}
	return fmt.Errorf("%s: %w", op, err)
}
