package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"parley/model"
)

// Limits on query parameters.
const (
	defaultListLimit = 50  // users and channels in a page when limit is absent
	maxQueryLen      = 64  // characters of a search query
	maxCursorLen     = 512 // bytes of an encoded cursor
)

// errNotFound is the answer for a path id that does not name anything the
// caller may see.
var errNotFound = model.Errorf(model.ENotFound, "Not found.")

// parseID parses a path id. Anything but a positive decimal integer names
// nothing, so it is ENotFound.
func parseID[T ~int64](s string) (T, error) {
	if s == "" || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errNotFound
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errNotFound
	}
	return T(n), nil
}

// limitParam returns the limit query parameter, from 1 to
// model.MaxPageLimit; def when it is absent.
func limitParam(r *http.Request, def int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > model.MaxPageLimit {
		return 0, model.FieldError("limit", fmt.Sprintf("must be an integer from 1 to %d", model.MaxPageLimit))
	}
	return n, nil
}

// intParam returns query parameter name as an integer from lo to hi; def
// when it is absent. Returns EInvalid naming it otherwise.
func intParam(r *http.Request, name string, lo, hi, def int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, model.FieldError(name, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
	}
	return n, nil
}

// searchPage holds the query parameters of a search that pages by cursor.
type searchPage struct {
	Query string // q
	After string // the key in cursor; "" for the first page
	Limit int
}

// searchPageParams reads q, limit and cursor. Returns EInvalid naming the
// first bad parameter.
func searchPageParams(r *http.Request) (searchPage, error) {
	q, err := searchQuery(r)
	if err != nil {
		return searchPage{}, err
	}
	limit, err := limitParam(r, defaultListLimit)
	if err != nil {
		return searchPage{}, err
	}
	after, err := cursorParam(r)
	if err != nil {
		return searchPage{}, err
	}
	return searchPage{Query: q, After: after, Limit: limit}, nil
}

// cursorPage converts xs with f into a page whose next_cursor, when more
// exist, is the encoded key of the last item.
func cursorPage[T, R any](xs []T, more bool, f func(T) R, key func(T) string) page[R] {
	p := page[R]{Items: toResponses(xs, f), HasMore: more}
	if more && len(xs) > 0 {
		p.NextCursor = encodeCursor(key(xs[len(xs)-1]))
	}
	return p
}

// searchQuery returns the q query parameter, at most maxQueryLen characters.
func searchQuery(r *http.Request) (string, error) {
	q := r.URL.Query().Get("q")
	if !utf8.ValidString(q) || utf8.RuneCountInString(q) > maxQueryLen {
		return "", model.FieldError("q", "must be at most 64 characters of text")
	}
	return q, nil
}

// Cursors are opaque to clients: base64url of the sort key of the last item
// of the previous page.
var cursorEncoding = base64.RawURLEncoding

func encodeCursor(key string) string {
	return cursorEncoding.EncodeToString([]byte(key))
}

// cursorParam returns the key in the cursor query parameter, or "" when it is
// absent. Returns EInvalid naming "cursor" if it was not made by encodeCursor.
func cursorParam(r *http.Request) (string, error) {
	s := r.URL.Query().Get("cursor")
	if s == "" {
		return "", nil
	}
	key, err := cursorEncoding.DecodeString(s)
	if err != nil || len(s) > maxCursorLen || len(key) == 0 || !utf8.Valid(key) {
		return "", model.FieldError("cursor", "must be a next_cursor from a previous page")
	}
	return string(key), nil
}
