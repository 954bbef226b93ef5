package api_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"parley"
	"parley/api"
	"parley/internal/dbtest"
	"parley/model"
	"parley/ratelimit"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	s := newServerWith(t, database, database)
	c := s.client(t)
	c.get("/healthz").want(http.StatusOK)
	c.get("/readyz").want(http.StatusOK)
	if err := database.Close(); err != nil {
		t.Fatal(err)
	}
	if got := decodeJSON[map[string]string](c.get("/readyz").want(http.StatusServiceUnavailable)); got["status"] != "unavailable" {
		t.Errorf("got %v, want status unavailable", got)
	}
	c.get("/healthz").want(http.StatusOK)
}

func TestHealth_Draining(t *testing.T) {
	t.Parallel()
	var draining atomic.Bool
	s := newServer(t, func(cfg *api.Config) { cfg.Draining = draining.Load })
	c := s.client(t)
	c.get("/readyz").want(http.StatusOK)
	draining.Store(true)
	if got := decodeJSON[map[string]string](c.get("/readyz").want(http.StatusServiceUnavailable)); got["status"] != "unavailable" {
		t.Errorf("got %v, want status unavailable while draining", got)
	}
	c.get("/healthz").want(http.StatusOK)
}

func TestDocs(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := s.client(t)

	r := c.get("/openapi.yaml").want(http.StatusOK)
	if !bytes.Equal(r.Body, parley.OpenAPI) || r.Header.Get("Content-Type") != "application/yaml" {
		t.Errorf("got %q with %d bytes, want openapi.yaml as application/yaml", r.Header.Get("Content-Type"), len(r.Body))
	}
	r = c.get("/docs").want(http.StatusOK)
	for _, want := range []string{`src="/docs/swagger-ui-bundle.js"`, `href="/docs/swagger-ui.css"`, `src="/docs/init.js"`} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("the docs page lacks %s", want)
		}
	}
	if strings.Contains(string(r.Body), "https://") {
		t.Error("the docs page loads something from another site; it must work offline")
	}
	for _, asset := range []string{"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/init.js", "/docs/LICENSE"} {
		c.do(request{method: http.MethodGet, path: asset, unspecified: true}).want(http.StatusOK)
	}
	if init := c.do(request{method: http.MethodGet, path: "/docs/init.js", unspecified: true}); !strings.Contains(string(init.Body), `url: "/openapi.yaml"`) {
		t.Errorf("init.js does not load /openapi.yaml: %s", init.Body)
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := s.client(t)
	get := func(path string) *response {
		return c.do(request{method: http.MethodGet, path: path, unspecified: true})
	}

	for _, path := range []string{"/", "/index.html", "/some/client/route"} {
		if r := get(path); r.Status != http.StatusOK && r.Status != http.StatusMovedPermanently || r.Status == http.StatusOK && !strings.Contains(string(r.Body), "Parley") {
			t.Errorf("GET %s: got %d %q, want the web app's index.html", path, r.Status, r.Body)
		}
	}
	get("/missing.js").want(http.StatusNotFound)
	for _, req := range []request{
		{method: http.MethodGet, path: "/api/v1/nope"},
		{method: http.MethodPost, path: "/api/v1/nope"},
		{method: http.MethodGet, path: "/api/v2/messages"},
		{method: http.MethodGet, path: "/api"},
	} {
		req.unspecified = true
		c.do(req).wantError(http.StatusNotFound, model.ENotFound, "")
	}
}

// TestAssets_CachingAndPolicy: the web app's hashed files are cached for a
// year, index.html (and every in-app route that serves it) is checked on
// each load, and the app's pages carry a policy that allows no inline
// script and no other site.
func TestAssets_CachingAndPolicy(t *testing.T) {
	t.Parallel()
	assets := fstest.MapFS{
		"index.html":             {Data: []byte(`<!doctype html><script type="module" src="/assets/index-abc123.js"></script>`)},
		"assets/index-abc123.js": {Data: []byte(`console.log("app")`)},
		"favicon.svg":            {Data: []byte(`<svg/>`)},
		"docs/index.html":        {Data: []byte(`docs`)},
		"docs/swagger-ui.css":    {Data: []byte(`body{}`)},
	}
	h := api.NewServer(api.Config{JWTSecret: secret}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, ratelimit.NewMemory(), nil, nil, nil, assets)
	tests := []struct {
		path, cache string
		status      int
		appPolicy   bool
	}{
		{"/", "no-cache", http.StatusOK, true},
		{"/c/42", "no-cache", http.StatusOK, true},
		{"/assets/index-abc123.js", "public, max-age=31536000, immutable", http.StatusOK, true},
		{"/favicon.svg", "public, max-age=86400", http.StatusOK, true},
		{"/assets/gone-000000.js", "", http.StatusNotFound, true},
		{"/docs/swagger-ui.css", "", http.StatusOK, false},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != tt.status || rec.Header().Get("Cache-Control") != tt.cache {
			t.Errorf("GET %s: got %d with Cache-Control %q, want %d with %q", tt.path, rec.Code, rec.Header().Get("Cache-Control"), tt.status, tt.cache)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		isApp := strings.Contains(csp, "script-src 'self';") && strings.Contains(csp, "connect-src 'self';") && !strings.Contains(csp, "unsafe-inline")
		if isApp != tt.appPolicy {
			t.Errorf("GET %s: got Content-Security-Policy %q, want the app's policy: %v", tt.path, csp, tt.appPolicy)
		}
	}
}
