package api_test

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"parley"
	"parley/api"
	"parley/ratelimit"
	"parley/static"
)

// TestRoutesMatchOpenAPI checks that the router serves exactly the operations
// in openapi.yaml, no more and no fewer.
func TestRoutesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData(parley.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	var inSpec []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			inSpec = append(inSpec, method+" "+path)
		}
	}

	h := api.NewServer(api.Config{JWTSecret: secret}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, ratelimit.NewMemory(), nil, nil, nil, static.FS)
	var routed []string
	err = chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		switch {
		case route == "/api" || route == "/api/*": // JSON 404s for any other API path
		case route == "/*" && method == http.MethodGet: // the web app's assets
		default:
			routed = append(routed, method+" "+route)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routed {
		if !slices.Contains(inSpec, r) {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for _, op := range inSpec {
		if !slices.Contains(routed, op) {
			t.Errorf("openapi.yaml's %s has no route", op)
		}
	}
}
