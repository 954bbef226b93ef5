// Package api serves Parley's HTTP API: the chi router, the handlers and their
// JSON wire types, the middleware, the one table from error codes to HTTP
// statuses, and the doors to the event channel (WebSocket and Server-Sent
// Events). It declares the interfaces it consumes (Store, Limiter, Notifier,
// Tickets, Presence) and must not import db, notify or cmd: cmd/parley
// passes the implementations in.
package api

import (
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"time"

	"github.com/go-chi/chi/v5"

	"parley/auth"
	"parley/model"
)

// Config tunes the server. Zero values mean the defaults stated on each field.
type Config struct {
	// JWTSecret signs and verifies access tokens with HS256. Required: at
	// least auth.MinSecretLen (32) bytes; NewServer panics otherwise.
	JWTSecret []byte
	// HistoryLimit is the number of messages in a history page whose request
	// does not set limit. Default model.DefaultPageLimit, at most
	// model.MaxPageLimit.
	HistoryLimit int
	// AllowedOrigins are the browser origins, such as
	// "https://chat.example.org", that may call the API from another origin;
	// "*" allows any. Default none.
	AllowedOrigins []string
	// TrustProxy takes the client IP, which rate limits are keyed by, from the
	// X-Forwarded-For header (or X-Real-IP without it), and keeps the
	// proxy's X-Request-Id. Set it only behind a reverse proxy that sets
	// them: clients can forge them. Default false: the peer address.
	TrustProxy bool
	// TrustedProxies, with TrustProxy, are the addresses of the proxies
	// whose headers are believed: a peer outside them is a client, and in
	// X-Forwarded-For the client is the rightmost hop outside them. Default
	// none: the peer is the one trusted proxy, whatever its address.
	TrustedProxies []netip.Prefix
	// Limits caps request rates; each zero Rate means its default.
	Limits Limits
	// Now tells the time that tokens are issued and checked at. Default time.Now.
	Now func() time.Time
	// EventsHeartbeat is how often GET /api/v1/events sends a comment when
	// no event is due, so proxies and clients see the stream is alive.
	// Default 15 s.
	EventsHeartbeat time.Duration
	// HashConcurrency is how many password hashes (registrations and
	// logins) may run at once. Default runtime.GOMAXPROCS(0): one per CPU.
	HashConcurrency int
	// HashWait is how long a registration or login waits for a hashing
	// slot before it is turned away with 503 and Retry-After. Default 1 s.
	HashWait time.Duration
	// Draining reports that the server is shutting down; /readyz then
	// answers 503 so load balancers send new clients elsewhere while the
	// requests in flight finish. Default: never draining.
	Draining func() bool
	// Push is what the API says and checks about push devices. Default:
	// Web Push off, endpoints https only.
	Push PushConfig

	// verifier checks access tokens with JWTSecret; set by withDefaults.
	verifier *auth.Verifier
	// hashes bounds the password hashes in flight; set by withDefaults.
	hashes *hashGate
}

func (c Config) withDefaults() Config {
	if c.HistoryLimit <= 0 {
		c.HistoryLimit = model.DefaultPageLimit
	}
	c.HistoryLimit = min(c.HistoryLimit, model.MaxPageLimit)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.EventsHeartbeat <= 0 {
		c.EventsHeartbeat = 15 * time.Second
	}
	if c.Draining == nil {
		c.Draining = func() bool { return false }
	}
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = runtime.GOMAXPROCS(0)
	}
	if c.HashWait <= 0 {
		c.HashWait = time.Second
	}
	if c.hashes == nil {
		c.hashes = newHashGate(c.HashConcurrency, c.HashWait)
	}
	c.Limits = c.Limits.withDefaults()
	if c.verifier == nil {
		c.verifier = auth.NewVerifier(c.JWTSecret)
	}
	return c
}

// NewServer returns the HTTP handler of the whole service: the API under
// /api/v1 (the event channel included), health checks, the OpenAPI document
// and its docs, and assets at /. Handlers publish to notifier after each
// change commits and hand it the event channel's connections; tickets and
// presence serve the WebSocket tickets and the users' online flags. It
// panics if cfg.JWTSecret is shorter than auth.MinSecretLen.
func NewServer(cfg Config, logger *slog.Logger, store Store, limiter Limiter, notifier Notifier, tickets Tickets, presence Presence, assets fs.FS) http.Handler {
	if len(cfg.JWTSecret) < auth.MinSecretLen {
		panic("api: Config.JWTSecret must be at least 32 bytes")
	}
	cfg = cfg.withDefaults()
	r := chi.NewRouter()
	r.Use(
		requestID(cfg),
		accessLog(logger),
		recoverer(logger),
		securityHeaders,
		cors(cfg.AllowedOrigins),
	)
	addRoutes(r, cfg, logger, deps{store: store, limiter: limiter, notifier: notifier, tickets: tickets, presence: presence}, assets)
	return r
}
