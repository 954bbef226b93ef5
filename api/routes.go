package api

import (
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// deps are the services the handlers use.
type deps struct {
	store    Store
	limiter  Limiter
	notifier Notifier
	tickets  Tickets
	presence Presence
}

// addRoutes maps every route, in the order of openapi.yaml's paths.
func addRoutes(r chi.Router, cfg Config, logger *slog.Logger, d deps, assets fs.FS) {
	h := func(hf handlerFunc) http.Handler { return adapt(logger, hf) }
	store := d.store
	r.Route("/api/v1", func(r chi.Router) {
		r.Method(http.MethodPost, "/auth/register", noStore(h(handleRegister(cfg, store, d.limiter))))
		r.Method(http.MethodPost, "/auth/login", noStore(h(handleLogin(cfg, store, d.limiter))))
		r.Method(http.MethodPost, "/auth/refresh", noStore(h(handleRefresh(cfg, store, d.notifier))))
		r.Method(http.MethodPost, "/auth/logout", h(handleLogout(store, d.notifier)))
		r.Group(func(r chi.Router) {
			r.Use(authenticate(cfg, logger))
			r.Method(http.MethodGet, "/me", h(handleMe(store)))
			r.Method(http.MethodGet, "/users", h(handleUserList(store)))
			r.Method(http.MethodGet, "/users/{id}", h(handleUserGet(logger, store, d.presence)))
			r.Method(http.MethodPost, "/channels", h(handleChannelCreate(store, d.notifier)))
			r.Method(http.MethodGet, "/channels", h(handleChannelList(store)))
			r.Method(http.MethodPatch, "/channels/{id}", h(handleChannelUpdate(store)))
			r.Method(http.MethodPut, "/channels/{id}/members/me", h(handleChannelJoin(store, d.notifier)))
			r.Method(http.MethodDelete, "/channels/{id}/members/me", h(handleChannelLeave(store, d.notifier)))
			r.Method(http.MethodPost, "/conversations/direct", h(handleDirectOpen(store, d.notifier)))
			r.Method(http.MethodGet, "/conversations", h(handleConversationList(store)))
			r.Method(http.MethodGet, "/conversations/{id}", h(handleConversationGet(store)))
			r.Method(http.MethodGet, "/conversations/{id}/members", h(handleMemberList(logger, store, d.presence)))
			r.Method(http.MethodPut, "/conversations/{id}/read", h(handleReadMark(store, d.notifier)))
			r.Method(http.MethodGet, "/conversations/{id}/changes", h(handleChangeList(store)))
			r.Method(http.MethodPost, "/conversations/{id}/messages", h(handleMessageCreate(cfg, store, d.limiter, d.notifier)))
			r.Method(http.MethodGet, "/conversations/{id}/messages", h(handleMessageList(cfg, store)))
			r.Method(http.MethodGet, "/messages", h(handleMessageBatch(store)))
			r.Method(http.MethodGet, "/messages/{id}", h(handleMessageGet(store)))
			r.Method(http.MethodPatch, "/messages/{id}", h(handleMessageUpdate(store, d.notifier)))
			r.Method(http.MethodDelete, "/messages/{id}", h(handleMessageDelete(store, d.notifier)))
			r.Method(http.MethodGet, "/events", h(handleEvents(cfg, logger, store, d.notifier)))
			r.Method(http.MethodPost, "/ws/tickets", h(handleTicketCreate(cfg, store, d.limiter, d.tickets)))
		})
		// The WebSocket authenticates itself: browsers cannot send headers
		// with it, so it also takes a ticket.
		r.Method(http.MethodGet, "/ws", h(handleWebSocket(cfg, logger, store, d.notifier, d.tickets)))
		r.Group(func(r chi.Router) {
			r.Use(authenticate(cfg, logger))
			r.Method(http.MethodPost, "/devices", h(handleDeviceCreate(cfg, store, d.limiter)))
			r.Method(http.MethodGet, "/devices", h(handleDeviceList(store)))
			r.Method(http.MethodDelete, "/devices/{id}", h(handleDeviceDelete(store)))
		})
		// The VAPID public key is public: a page asks for it to subscribe.
		r.Method(http.MethodGet, "/push/vapid-key", h(handleVAPIDKey(cfg)))
	})
	r.Method(http.MethodGet, "/healthz", h(handleHealthz))
	r.Method(http.MethodGet, "/readyz", h(handleReadyz(cfg.Draining, logger, store)))
	r.Method(http.MethodGet, "/openapi.yaml", http.HandlerFunc(handleOpenAPI))
	r.Method(http.MethodGet, "/docs", handleDocs(assets))

	// Outside openapi.yaml: no other API path exists, and anything else that
	// is fetched belongs to the web app.
	r.NotFound(h(handleNotFound).ServeHTTP)
	r.Handle("/api", h(handleNotFound))
	r.Handle("/api/*", h(handleNotFound))
	r.Method(http.MethodGet, "/*", handleAssets(assets))
}
