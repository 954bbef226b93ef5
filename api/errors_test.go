package api_test

import (
	"net/http"
	"testing"

	"parley/api"
	"parley/model"
)

func TestStatusTable(t *testing.T) {
	t.Parallel()
	for _, code := range model.Codes {
		status, ok := api.StatusByCode[code]
		if !ok {
			t.Errorf("code %q has no status", code)
			continue
		}
		if http.StatusText(status) == "" || status < 400 {
			t.Errorf("code %q maps to %d, want an error status", code, status)
		}
	}
	if got, want := len(api.StatusByCode), len(model.Codes); got != want {
		t.Errorf("got %d entries, want %d: one per model.Code", got, want)
	}
}
