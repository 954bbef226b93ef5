package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"parley/auth"
	"parley/model"
)

// maxTicketLen bounds what is looked up as a ticket.
const maxTicketLen = 256

var (
	errNoWSCredentials = model.Errorf(model.EUnauthenticated,
		"Send an access token as Authorization: Bearer <token>, or a ticket from POST /api/v1/ws/tickets as ?ticket=<ticket>.")
	errForeignOrigin = model.Errorf(model.EForbidden, "Pages on this origin may not open the event channel.")
)

// handleWebSocket serves GET /api/v1/ws: the event channel. Everything is
// checked before the upgrade, so a refusal is an ordinary JSON error: the
// Origin, then the credentials (an access token, or a ticket, which is used
// up), then that the login is still active. The upgrade and the connection
// are the Notifier's.
func handleWebSocket(cfg Config, logger *slog.Logger, store Store, notifier Notifier, tickets Tickets) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !originAllowed(r, cfg.AllowedOrigins) {
			return errForeignOrigin
		}
		claims, err := webSocketClaims(w, r, cfg, tickets)
		if err != nil {
			return err
		}
		if err := requireActiveSession(r.Context(), store, claims.SessionID); err != nil {
			return err
		}
		infoFrom(r.Context()).userID = claims.UserID
		// The response is gone with the upgrade: from here on, errors are
		// only logged.
		if err := notifier.ServeWebSocket(w, r, claims.UserID, claims.SessionID); err != nil {
			logger.ErrorContext(r.Context(), "websocket failed", "request_id", requestIDFrom(r.Context()),
				"user_id", claims.UserID, "err", err)
		}
		return nil
	}
}

// webSocketClaims authenticates a WebSocket handshake by its access token,
// or else by its ticket, which it redeems. The ticket is a credential: it is
// never logged.
func webSocketClaims(w http.ResponseWriter, r *http.Request, cfg Config, tickets Tickets) (auth.Claims, error) {
	if r.Header.Get("Authorization") != "" {
		return bearerClaims(w, r, cfg)
	}
	ticket := r.URL.Query().Get("ticket")
	switch {
	case ticket == "":
		return auth.Claims{}, errNoWSCredentials
	case len(ticket) > maxTicketLen:
		return auth.Claims{}, auth.ErrBadTicket
	}
	user, session, err := tickets.Redeem(r.Context(), ticket)
	if err != nil {
		if model.ErrorCode(err) == model.EUnauthenticated {
			return auth.Claims{}, auth.ErrBadTicket
		}
		return auth.Claims{}, fmt.Errorf("redeem ticket: %w", err)
	}
	return auth.Claims{UserID: user, SessionID: session}, nil
}

// originAllowed reports whether a page on r's Origin may open the
// WebSocket: one on the host it was sent to, as coder/websocket judges, or
// on one of allowed ("*" allows any). A request without an Origin does not
// come from a browser page, and carries credentials no page could forge.
func originAllowed(r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(a, u.Scheme+"://"+u.Host) {
			return true
		}
	}
	return false
}

type ticketResponse struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
}

// handleTicketCreate serves POST /api/v1/ws/tickets.
func handleTicketCreate(cfg Config, store Store, limiter Limiter, tickets Tickets) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c := login(r)
		if err := limit(r.Context(), w, limiter, "ticket:user:"+strconv.FormatInt(int64(c.UserID), 10), cfg.Limits.TicketPerUser); err != nil {
			return err
		}
		if err := requireActiveSession(r.Context(), store, c.SessionID); err != nil {
			return err
		}
		ticket, expires, err := tickets.Issue(r.Context(), c.UserID, c.SessionID)
		if err != nil {
			return fmt.Errorf("issue ticket: %w", err)
		}
		w.Header().Set("Cache-Control", "no-store")
		return encode(w, http.StatusCreated, ticketResponse{Ticket: ticket, ExpiresAt: expires.UTC()})
	}
}
