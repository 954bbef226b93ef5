package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// readyTimeout bounds how long /readyz waits for the database.
const readyTimeout = 2 * time.Second

type healthResponse struct {
	Status string `json:"status"` // "ok" or "unavailable"
}

// handleHealthz serves GET /healthz: the process is up.
func handleHealthz(w http.ResponseWriter, _ *http.Request) error {
	return encode(w, http.StatusOK, healthResponse{Status: "ok"})
}

// handleReadyz serves GET /readyz: the server is not shutting down and the
// database answers.
func handleReadyz(draining func() bool, logger *slog.Logger, store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if draining() {
			return encode(w, http.StatusServiceUnavailable, healthResponse{Status: "unavailable"})
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			logger.WarnContext(r.Context(), "not ready", "request_id", requestIDFrom(r.Context()), "err", err)
			return encode(w, http.StatusServiceUnavailable, healthResponse{Status: "unavailable"})
		}
		return encode(w, http.StatusOK, healthResponse{Status: "ok"})
	}
}
