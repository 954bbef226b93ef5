package model

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// UserID identifies a user.
type UserID int64

// Limits on accounts.
const (
	MinUsernameLen    = 3
	MaxUsernameLen    = 32
	MinPasswordBytes  = 8
	MaxPasswordBytes  = 256
	MaxDisplayNameLen = 64 // characters
)

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// User is an account. Usernames are unique regardless of case.
type User struct {
	ID          UserID
	Username    string
	DisplayName string
	IsAdmin     bool
	CreatedAt   time.Time
}

// NewUser is what it takes to create an account.
type NewUser struct {
	Username     string
	DisplayName  string // defaults to Username
	PasswordHash string // never the password itself
	IsAdmin      bool
}

// ValidateUsername returns an EInvalid error naming field "username" unless s
// is 3–32 characters of [A-Za-z0-9_.-].
func ValidateUsername(s string) error {
	if n := len(s); n < MinUsernameLen || n > MaxUsernameLen || !usernamePattern.MatchString(s) {
		return FieldError("username", "must be 3–32 characters of letters, digits, '_', '.' or '-'")
	}
	return nil
}

// ValidatePassword returns an EInvalid error naming field "password" unless
// p is 8–256 bytes.
func ValidatePassword(p string) error {
	if n := len(p); n < MinPasswordBytes || n > MaxPasswordBytes {
		return FieldError("password", "must be 8–256 bytes")
	}
	return nil
}

// NormalizeDisplayName trims s and validates it; an empty result means "use
// the username". Returns EInvalid naming field "display_name".
func NormalizeDisplayName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > MaxDisplayNameLen || !printable(s, false) {
		return "", FieldError("display_name", "must be at most 64 printable characters")
	}
	if hasBidiControl(s) {
		return "", FieldError("display_name", "must not hold bidirectional control characters")
	}
	return s, nil
}

// UserFilter selects users for search.
type UserFilter struct {
	Query string // case-insensitive prefix of username or display name; empty matches all
	After string // exclusive: lowercased username of the last user on the previous page
	Limit int
}
