package api

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"parley/auth"
	"parley/model"
)

// ctxKey is the type of this package's context keys, so that no other
// package can collide with them.
type ctxKey int

const (
	infoKey   ctxKey = iota // *requestInfo
	claimsKey               // auth.Claims of the caller
)

// requestInfo is what the access log reports about a request beyond the
// request itself. Middleware further in fills it in.
type requestInfo struct {
	id     string
	userID model.UserID
}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey).(*requestInfo)
	if info == nil {
		return &requestInfo{}
	}
	return info
}

func requestIDFrom(ctx context.Context) string { return infoFrom(ctx).id }

// actor returns the authenticated caller. Only handlers behind authenticate
// may call it.
func actor(r *http.Request) model.UserID {
	return login(r).UserID
}

// login returns the caller and the login session their access token
// belongs to. Only handlers behind authenticate may call it.
func login(r *http.Request) auth.Claims {
	return r.Context().Value(claimsKey).(auth.Claims)
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID gives each request an id, returned in X-Request-Id and logged
// with everything about the request. A well-formed X-Request-Id is kept only
// from a trusted proxy; a client's own gets a fresh id, so that it cannot
// pick the id its requests are logged under.
func requestID(cfg Config) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("X-Request-Id")
			if _, proxied := clientAddr(r, cfg); !proxied || !requestIDPattern.MatchString(id) {
				id = rand.Text()
			}
			w.Header().Set("X-Request-Id", id)
			ctx := context.WithValue(r.Context(), infoKey, &requestInfo{id: id})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// accessLog logs one line per request: never its query, headers or body,
// which can hold tokens, passwords and messages.
func accessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			info := infoFrom(r.Context())
			logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Duration("duration", time.Since(start)),
				slog.String("request_id", info.id),
				slog.Int64("user_id", int64(info.userID)),
			)
		})
	}
}

// recoverer turns a panic in a handler into a logged 500, so that one bad
// request does not take the connection down silently.
func recoverer(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) { // the handler's way to abort the response
					panic(v)
				}
				logger.ErrorContext(r.Context(), "handler panicked", "method", r.Method, "path", r.URL.Path,
					"request_id", requestIDFrom(r.Context()), "panic", v, "stack", string(debug.Stack()))
				if ww, ok := w.(middleware.WrapResponseWriter); ok && ww.Status() != 0 {
					return // too late for an error response
				}
				_ = encode(w, http.StatusInternalServerError, errorResponse{Error: errorBody{Code: internalError.Code, Message: internalError.Message}})
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// securityHeaders stops browsers from sniffing content types, framing the
// pages, or leaking URLs in Referer.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// noStore keeps responses that carry credentials (tokens, tickets) out of
// every cache, the browser's included.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// cors lets browsers on the allowed origins call the API. Credentials are
// bearer tokens, never cookies, so credentialed CORS is not enabled.
func cors(allowed []string) func(http.Handler) http.Handler {
	anyOrigin := slices.Contains(allowed, "*")
	return func(next http.Handler) http.Handler {
		if len(allowed) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Add("Vary", "Origin")
			origin := r.Header.Get("Origin")
			if origin == "" || !anyOrigin && !slices.Contains(allowed, origin) {
				next.ServeHTTP(w, r)
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate, X-Request-Id")
			next.ServeHTTP(w, r)
		})
	}
}

// authenticate lets through only requests with a valid access token in
// Authorization: Bearer, and makes the caller available to actor.
func authenticate(cfg Config, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, err := bearerClaims(w, r, cfg)
			if err != nil {
				writeError(w, r, logger, err)
				return
			}
			infoFrom(r.Context()).userID = claims.UserID
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey, claims)))
		})
	}
}

// bearerClaims returns the claims of the access token in Authorization:
// Bearer. Returns EUnauthenticated if there is none or it is not valid,
// having set WWW-Authenticate to say which.
func bearerClaims(w http.ResponseWriter, r *http.Request, cfg Config) (auth.Claims, error) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return auth.Claims{}, model.Errorf(model.EUnauthenticated, "Send an access token as Authorization: Bearer <token>.")
	}
	token = strings.TrimSpace(token)
	claims, err := cfg.verifier.Verify(token, cfg.Now())
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley", error="invalid_token"`)
		return auth.Claims{}, model.Errorf(model.EUnauthenticated, "The access token is invalid or has expired.")
	}
	return claims, nil
}
