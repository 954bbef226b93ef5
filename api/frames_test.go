package api_test

import (
	"testing"

	"parley/notify/notifytest"
)

// checkFrame reports an error unless data is a frame that asyncapi.yaml
// says the server sends. It may be called from any goroutine.
func checkFrame(t testing.TB, data []byte) {
	if err := notifytest.CheckFrame(data, true); err != nil {
		t.Error(err)
	}
}
