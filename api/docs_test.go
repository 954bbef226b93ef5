package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"parley"
	"parley/api"
	"parley/internal/dbtest"
	"parley/model"
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
