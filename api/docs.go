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

// handleAssets serves the files in assets. A path that names no file and has
// no extension gets index.html, so the web app can route it in the browser.
func handleAssets(assets fs.FS) http.Handler {
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" {
			name = "."
		}
		if name == "docs" || strings.HasPrefix(name, "docs/") {
			w.Header().Set("Content-Security-Policy", docsPolicy)
		}
		if info, err := fs.Stat(assets, name); err == nil && (!info.IsDir() || exists(assets, path.Join(name, "index.html"))) {
			files.ServeHTTP(w, r)
			return
		}
		if path.Ext(name) != "" {
			http.NotFound(w, r)
			return
		}
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
