package api

import (
	"io/fs"
	"net/http"
	"path"
	"strings"

	"parley"
	"parley/model"
)

// handleOpenAPI serves GET /openapi.yaml.
func handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(parley.OpenAPI)
}

// docsPolicy lets the docs page run only the vendored Swagger UI from this
// server; it needs inline styles and data: images.
const docsPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"

// handleDocs serves GET /docs: Swagger UI, from assets/docs, for /openapi.yaml.
func handleDocs(assets fs.FS) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", docsPolicy)
		http.ServeFileFS(w, r, assets, "docs/index.html")
	})
}

// appPolicy is the web app's Content-Security-Policy: it runs only its own
// script and styles from this server (no inline script, nothing from another
// site) and talks only to this server's API and its WebSocket ('self' covers
// ws: and wss: on the same host).
const appPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Cache lifetimes of the web app's files. Vite names everything under
// assets/ after a hash of its content, so a name never changes meaning and
// browsers may keep it for good; index.html names the current ones and must
// be checked on every load.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
	cacheDay        = "public, max-age=86400"
)

// handleAssets serves the files in assets. A path that names no file and has
// no extension gets index.html, so the web app can route it in the browser.
func handleAssets(assets fs.FS) http.Handler {
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" {
			name = "."
		}
		h := w.Header()
		switch {
		case name == "docs" || strings.HasPrefix(name, "docs/"):
			h.Set("Content-Security-Policy", docsPolicy)
		case strings.HasPrefix(name, "assets/"):
			h.Set("Content-Security-Policy", appPolicy)
			h.Set("Cache-Control", cacheImmutable)
		default:
			h.Set("Content-Security-Policy", appPolicy)
			h.Set("Cache-Control", cacheDay)
		}
		if info, err := fs.Stat(assets, name); err == nil && (!info.IsDir() || exists(assets, path.Join(name, "index.html"))) {
			if info.IsDir() || name == "index.html" {
				h.Set("Cache-Control", cacheRevalidate)
			}
			files.ServeHTTP(w, r)
			return
		}
		if path.Ext(name) != "" {
			h.Del("Cache-Control")
			http.NotFound(w, r)
			return
		}
		h.Set("Cache-Control", cacheRevalidate)
		http.ServeFileFS(w, r, assets, "index.html")
	})
}

func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

// handleNotFound answers any path that is not a route.
func handleNotFound(http.ResponseWriter, *http.Request) error {
	return model.Errorf(model.ENotFound, "No such endpoint.")
}
