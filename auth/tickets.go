package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/model"
)

// DefaultTicketTTL is how long a WebSocket ticket stays valid when the
// constructor is given no lifetime.
const DefaultTicketTTL = 30 * time.Second

// ticketBytes is a ticket's entropy; it travels base64url-encoded without
// padding, as 43 characters.
const ticketBytes = 32

var ticketLen = base64.RawURLEncoding.EncodedLen(ticketBytes)

// newTicket returns a fresh ticket and the hash that names it in storage,
// so that whoever reads the storage cannot redeem what it holds.
func newTicket() (string, [sha256.Size]byte) {
	b := make([]byte, ticketBytes)
	_, _ = rand.Read(b) // never fails: see crypto/rand.Read
	ticket := base64.RawURLEncoding.EncodeToString(b)
	return ticket, sha256.Sum256([]byte(ticket))
}

// ticketHash returns the hash of ticket, or false if ticket is not shaped
// like one we issue: that is refused without a lookup.
func ticketHash(ticket string) ([sha256.Size]byte, bool) {
	if len(ticket) != ticketLen {
		return [sha256.Size]byte{}, false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(ticket); err != nil {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256([]byte(ticket)), true
}

// ErrBadTicket is the answer to a ticket that is not one we issued, or has
// expired or been used.
var ErrBadTicket = model.Errorf(model.EUnauthenticated, "The ticket is invalid, expired or already used.")

// MemoryTickets issues and redeems WebSocket tickets for a single instance.
// Expired tickets are swept out as new ones are issued, so memory holds at
// most the tickets issued within the last two lifetimes. It is safe for
// concurrent use.
type MemoryTickets struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	tickets   map[[sha256.Size]byte]ticketEntry
	lastSweep time.Time
}

type ticketEntry struct {
	user    model.UserID
	session model.SessionID
	expires time.Time
}

// NewMemoryTickets returns an empty ticket store whose tickets live for
// ttl (DefaultTicketTTL if ttl is not positive).
func NewMemoryTickets(ttl time.Duration) *MemoryTickets {
	if ttl <= 0 {
		ttl = DefaultTicketTTL
	}
	return &MemoryTickets{ttl: ttl, now: time.Now, tickets: make(map[[sha256.Size]byte]ticketEntry)}
}

// Issue returns a new single-use ticket for user's session.
func (t *MemoryTickets) Issue(_ context.Context, user model.UserID, session model.SessionID) (string, time.Time, error) {
	ticket, key := newTicket()
	now := t.now()
	expires := now.Add(t.ttl)
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.lastSweep) >= t.ttl {
		for k, e := range t.tickets {
			if !now.Before(e.expires) {
				delete(t.tickets, k)
			}
		}
		t.lastSweep = now
	}
	t.tickets[key] = ticketEntry{user: user, session: session, expires: expires}
	return ticket, expires, nil
}

// Redeem consumes ticket. Returns EUnauthenticated if it is unknown,
// expired or already used.
func (t *MemoryTickets) Redeem(_ context.Context, ticket string) (model.UserID, model.SessionID, error) {
	key, ok := ticketHash(ticket)
	if !ok {
		return 0, 0, ErrBadTicket
	}
	t.mu.Lock()
	e, ok := t.tickets[key]
	delete(t.tickets, key)
	t.mu.Unlock()
	if !ok || !t.now().Before(e.expires) {
		return 0, 0, ErrBadTicket
	}
	return e.user, e.session, nil
}

// RedisTickets issues and redeems WebSocket tickets shared by every
// instance: a ticket issued by one is redeemed, once, by any. Each ticket
// is one key, named by the ticket's SHA-256 under prefix, that Redis
// expires; GETDEL redeems it atomically.
type RedisTickets struct {
	client redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRedisTickets returns a ticket store in Redis through client, under
// keys starting with prefix (PARLEY_REDIS_PREFIX), whose tickets live for
// ttl (DefaultTicketTTL if ttl is not positive). The caller keeps ownership
// of client.
func NewRedisTickets(client redis.UniversalClient, prefix string, ttl time.Duration) *RedisTickets {
	if ttl <= 0 {
		ttl = DefaultTicketTTL
	}
	return &RedisTickets{client: client, prefix: prefix, ttl: ttl}
}

func (t *RedisTickets) key(hash [sha256.Size]byte) string {
	return t.prefix + "ticket:" + hex.EncodeToString(hash[:])
}

// Issue stores a new single-use ticket for user's session with SET NX and
// the ticket's lifetime.
func (t *RedisTickets) Issue(ctx context.Context, user model.UserID, session model.SessionID) (string, time.Time, error) {
	ticket, hash := newTicket()
	expires := time.Now().Add(t.ttl)
	value := strconv.FormatInt(int64(user), 10) + ":" + strconv.FormatInt(int64(session), 10)
	ok, err := t.client.SetNX(ctx, t.key(hash), value, t.ttl).Result()
	switch {
	case err != nil:
		return "", time.Time{}, fmt.Errorf("issue ticket: %w", err)
	case !ok: // 2^-256: a broken random source, not bad luck
		return "", time.Time{}, errors.New("issue ticket: ticket already exists")
	}
	return ticket, expires, nil
}

// Redeem consumes ticket with GETDEL, so it succeeds at most once across
// every instance. Returns EUnauthenticated if it is unknown, expired or
// already used.
func (t *RedisTickets) Redeem(ctx context.Context, ticket string) (model.UserID, model.SessionID, error) {
	hash, ok := ticketHash(ticket)
	if !ok {
		return 0, 0, ErrBadTicket
	}
	value, err := t.client.GetDel(ctx, t.key(hash)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, 0, ErrBadTicket
	}
	if err != nil {
		return 0, 0, fmt.Errorf("redeem ticket: %w", err)
	}
	u, s, _ := strings.Cut(value, ":")
	user, err1 := strconv.ParseInt(u, 10, 64)
	session, err2 := strconv.ParseInt(s, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, errors.New("redeem ticket: malformed value in redis")
	}
	return model.UserID(user), model.SessionID(session), nil
}
