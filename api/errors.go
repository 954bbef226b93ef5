package api

import (
	"errors"
	"log/slog"
	"net/http"

	"parley/model"
)

// statusByCode is the only place that maps error codes to HTTP statuses.
// TestStatusTable checks that every model.Code has an entry.
var statusByCode = map[model.Code]int{
	model.EMalformed:        http.StatusBadRequest,
	model.EInvalid:          http.StatusUnprocessableEntity,
	model.EUnsupportedMedia: http.StatusUnsupportedMediaType,
	model.ETooLarge:         http.StatusRequestEntityTooLarge,
	model.EUnauthenticated:  http.StatusUnauthorized,
	model.EForbidden:        http.StatusForbidden,
	model.ENotFound:         http.StatusNotFound,
	model.EConflict:         http.StatusConflict,
	model.ERateLimited:      http.StatusTooManyRequests,
	model.EUnavailable:      http.StatusServiceUnavailable,
	model.EInternal:         http.StatusInternalServerError,
}

// handlerFunc is a handler that reports failure by returning an error, so it
// cannot forget to return after writing one; adapt writes it.
type handlerFunc func(http.ResponseWriter, *http.Request) error

// adapt turns h into an http.Handler that writes h's error, if any.
func adapt(logger *slog.Logger, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, logger, err)
		}
	})
}

type errorResponse struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    model.Code        `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// internalError is what users see of any failure that is ours.
var internalError = &model.Error{Code: model.EInternal, Message: "Something went wrong on our side."}

// writeError writes err as an error response. An *model.Error in err's chain
// reaches the client as it is; anything else is logged with the request id and
// becomes a 500 with a generic message. A 401 always carries WWW-Authenticate.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var e *model.Error
	if !errors.As(err, &e) || e.Code == model.EInternal {
		if r.Context().Err() == nil { // a client that hung up is not our failure
			logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
				"request_id", requestIDFrom(r.Context()), "err", err)
		}
		e = internalError
	}
	status, ok := statusByCode[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
	}
	_ = encode(w, status, errorResponse{Error: errorBody{Code: e.Code, Message: e.Message, Fields: e.Fields}})
}
