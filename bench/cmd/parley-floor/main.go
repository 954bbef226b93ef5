// Command parley-floor is the least server that can answer make bench's two
// requests on Parley's stack, for measuring what Parley's own API layer
// costs: net/http's ServeMux, the access-token check (auth.Verifier) and
// the store (db.Store, so the SQL is the store's), with encoding/json in
// and out. It has no routing beyond the two patterns, no middleware, no
// access log, no rate limit, no validation beyond JSON decoding and no
// events. It is not part of Parley: never deploy it.
//
// bench/bench.sh with BENCH_FLOOR=1 runs it beside "parley serve" on the
// same database and JWT secret, and loads both in the same rounds:
//
//	POST /api/v1/conversations/{id}/messages   {"body": …, "client_msg_id": …} → 201 and the message
//	GET  /api/v1/conversations/{id}/messages   → 200 and the latest page
//	GET  /readyz                               → 200 once it serves, for the script to wait on
//
// Usage: PARLEY_ADDR=127.0.0.1:PORT DATABASE_URL=… PARLEY_JWT_SECRET=… parley-floor
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"parley/auth"
	"parley/db"
	"parley/model"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "parley-floor: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	secret := []byte(getenv("PARLEY_JWT_SECRET"))
	if len(secret) < auth.MinSecretLen {
		return errors.New("PARLEY_JWT_SECRET must hold at least 32 bytes")
	}
	store, err := db.Open(ctx, getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	defer store.Close()
	verifier := auth.NewVerifier(secret)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("POST /api/v1/conversations/{id}/messages", func(w http.ResponseWriter, r *http.Request) {
		user, conv, ok := caller(w, r, verifier)
		if !ok {
			return
		}
		var req struct {
			Body        string `json:"body"`
			ClientMsgID string `json:"client_msg_id"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, model.MaxRequestBytes)).Decode(&req); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		msg := model.Message{ConversationID: conv, SenderID: user, Body: req.Body, ClientMsgID: req.ClientMsgID}
		created, err := store.CreateMessage(r.Context(), &msg)
		if err != nil || !created {
			http.Error(w, fmt.Sprint("create message: ", err), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusCreated, toMessage(msg))
	})
	mux.HandleFunc("GET /api/v1/conversations/{id}/messages", func(w http.ResponseWriter, r *http.Request) {
		user, conv, ok := caller(w, r, verifier)
		if !ok {
			return
		}
		msgs, more, err := store.ListMessages(r.Context(), user, model.HistoryFilter{ConversationID: conv})
		if err != nil {
			http.Error(w, fmt.Sprint("list messages: ", err), http.StatusInternalServerError)
			return
		}
		page := struct {
			Items   []message `json:"items"`
			HasMore bool      `json:"has_more"`
		}{Items: make([]message, len(msgs)), HasMore: more}
		for i, m := range msgs {
			page.Items[i] = toMessage(m)
		}
		writeJSON(w, http.StatusOK, page)
	})

	srv := &http.Server{Addr: getenv("PARLEY_ADDR"), Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// caller returns the user of the request's access token and the
// conversation in its path, or answers 401 or 400 itself.
func caller(w http.ResponseWriter, r *http.Request, verifier *auth.Verifier) (model.UserID, model.ConversationID, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	claims, err := verifier.Verify(token, time.Now())
	if !ok || err != nil {
		http.Error(w, "unauthenticated", http.StatusUnauthorized)
		return 0, 0, false
	}
	conv, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return 0, 0, false
	}
	return claims.UserID, model.ConversationID(conv), true
}

// message is the wire form of a message, as the API's.
type message struct {
	ID             model.MessageID      `json:"id"`
	ConversationID model.ConversationID `json:"conversation_id"`
	Seq            int64                `json:"seq"`
	SenderID       model.UserID         `json:"sender_id"`
	Body           string               `json:"body"`
	ClientMsgID    string               `json:"client_msg_id,omitempty"`
	CreatedAt      time.Time            `json:"created_at"`
	EditedAt       *time.Time           `json:"edited_at"`
	DeletedAt      *time.Time           `json:"deleted_at"`
}

func toMessage(m model.Message) message {
	return message{ID: m.ID, ConversationID: m.ConversationID, Seq: m.Seq, SenderID: m.SenderID, Body: m.Body,
		ClientMsgID: m.ClientMsgID, CreatedAt: m.CreatedAt, EditedAt: m.EditedAt, DeletedAt: m.DeletedAt}
}

// writeJSON sends v with its Content-Length, as the API does, so that
// parley-bench can read it.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
