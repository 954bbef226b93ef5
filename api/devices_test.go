package api_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"

	"parley/api"
	"parley/model"
)

const testVAPIDPublic = "BMk-test-key-as-configured"

// webpushKeys returns the keys of a fresh browser subscription.
func webpushKeys(t *testing.T) map[string]string {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	return map[string]string{
		"p256dh": base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()),
		"auth":   base64.RawURLEncoding.EncodeToString(auth),
	}
}

func TestDevices(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *api.Config) { c.Push = api.PushConfig{VAPIDPublicKey: testVAPIDPublic} })
	alice, bob := s.register(t, "alice"), s.register(t, "bob")

	type deviceJSON struct {
		ID            int64  `json:"id"`
		Kind          string `json:"kind"`
		Endpoint      string `json:"endpoint"`
		IncludeSender bool   `json:"include_sender"`
	}
	type listJSON struct {
		Items []deviceJSON `json:"items"`
	}

	t.Run("RegisterListDelete", func(t *testing.T) {
		t.Parallel()
		a := alice.in(t)
		endpoint := "https://push.example/alice-" + rand.Text()
		d := decodeJSON[deviceJSON](a.post("/api/v1/devices", map[string]any{"kind": "webpush", "endpoint": endpoint, "keys": webpushKeys(t)}).
			want(http.StatusCreated))
		// Again, with new keys: the same device, updated.
		again := decodeJSON[deviceJSON](a.post("/api/v1/devices", map[string]any{"kind": "webpush", "endpoint": endpoint,
			"keys": webpushKeys(t), "include_sender": true}).want(http.StatusOK))
		if again.ID != d.ID || !again.IncludeSender {
			t.Fatalf("re-registering: got %+v, want device %d with include_sender", again, d.ID)
		}
		up := decodeJSON[deviceJSON](a.post("/api/v1/devices", map[string]any{"kind": "unifiedpush", "endpoint": "https://up.example/x"}).
			want(http.StatusCreated))
		l := decodeJSON[listJSON](a.get("/api/v1/devices").want(http.StatusOK))
		if len(l.Items) != 2 || l.Items[0].ID != d.ID || l.Items[1].ID != up.ID {
			t.Fatalf("devices: got %+v, want %d then %d", l.Items, d.ID, up.ID)
		}
		// Another user's device does not exist for bob.
		bob.in(t).delete(fmt.Sprintf("/api/v1/devices/%d", d.ID)).wantError(http.StatusNotFound, model.ENotFound, "")
		a.delete(fmt.Sprintf("/api/v1/devices/%d", d.ID)).want(http.StatusNoContent)
		a.delete(fmt.Sprintf("/api/v1/devices/%d", d.ID)).wantError(http.StatusNotFound, model.ENotFound, "")
		// The endpoint moves to whoever registers it last.
		bob.in(t).post("/api/v1/devices", map[string]any{"kind": "unifiedpush", "endpoint": "https://up.example/x"}).want(http.StatusOK)
		if l := decodeJSON[listJSON](a.get("/api/v1/devices").want(http.StatusOK)); len(l.Items) != 0 {
			t.Fatalf("alice's devices after bob took her endpoint: got %+v, want none", l.Items)
		}
	})

	keys := webpushKeys(t)
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"ErrKind", `{"kind": "sms", "endpoint": "https://x.example/"}`, "kind"},
		{"ErrHTTP", `{"kind": "unifiedpush", "endpoint": "http://x.example/"}`, "endpoint"},
		{"ErrLoopbackHTTPNotAllowed", `{"kind": "unifiedpush", "endpoint": "http://127.0.0.1:9/"}`, "endpoint"},
		{"ErrNotURL", `{"kind": "unifiedpush", "endpoint": "push me"}`, "endpoint"},
		{"ErrUserInfo", `{"kind": "unifiedpush", "endpoint": "https://u:p@x.example/"}`, "endpoint"},
		{"ErrWebPushNoKeys", `{"kind": "webpush", "endpoint": "https://x.example/"}`, "keys.p256dh"},
		{"ErrBadPoint", `{"kind": "webpush", "endpoint": "https://x.example/", "keys": {"p256dh": "` +
			base64.RawURLEncoding.EncodeToString(make([]byte, 65)) + `", "auth": "` + keys["auth"] + `"}}`, "keys.p256dh"},
		{"ErrShortAuth", `{"kind": "webpush", "endpoint": "https://x.example/", "keys": {"p256dh": "` + keys["p256dh"] + `", "auth": "AAAA"}}`, "keys.auth"},
		{"ErrUnifiedPushKeys", `{"kind": "unifiedpush", "endpoint": "https://x.example/", "keys": {"p256dh": "` + keys["p256dh"] + `", "auth": "` + keys["auth"] + `"}}`, "keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			alice.in(t).do(request{method: http.MethodPost, path: "/api/v1/devices", body: tt.body, invalid: true}).
				wantError(http.StatusUnprocessableEntity, model.EInvalid, tt.field)
		})
	}

	t.Run("ErrTooMany", func(t *testing.T) {
		t.Parallel()
		carol := s.register(t, "carol").in(t)
		for i := range model.MaxDevicesPerUser {
			carol.post("/api/v1/devices", map[string]any{"kind": "unifiedpush", "endpoint": fmt.Sprintf("https://up.example/carol/%d", i)}).
				want(http.StatusCreated)
		}
		carol.post("/api/v1/devices", map[string]any{"kind": "unifiedpush", "endpoint": "https://up.example/carol/more"}).
			wantError(http.StatusConflict, model.EConflict, "")
	})

	t.Run("VAPIDKey", func(t *testing.T) {
		t.Parallel()
		got := decodeJSON[map[string]string](s.client(t).get("/api/v1/push/vapid-key").want(http.StatusOK))
		if got["public_key"] != testVAPIDPublic {
			t.Fatalf("got %v, want the configured key", got)
		}
	})
}

func TestDevices_WebPushOff(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice := s.register(t, "alice").in(t)
	s.client(t).get("/api/v1/push/vapid-key").wantError(http.StatusNotFound, model.ENotFound, "")
	alice.post("/api/v1/devices", map[string]any{"kind": "webpush", "endpoint": "https://x.example/", "keys": webpushKeys(t)}).
		wantError(http.StatusUnprocessableEntity, model.EInvalid, "kind")
	alice.post("/api/v1/devices", map[string]any{"kind": "unifiedpush", "endpoint": "https://x.example/"}).want(http.StatusCreated)
}

func TestChannelUpdate(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	admin := s.admin(t, "root")
	conv := alice.channel("keep")
	bob.in(t).put(fmt.Sprintf("/api/v1/channels/%d/members/me", conv), nil).want(http.StatusOK)
	path := fmt.Sprintf("/api/v1/channels/%d", conv)

	type convJSON struct {
		RetentionDays   *int  `json:"retention_days"`
		HistoryStartSeq int64 `json:"history_start_seq"`
	}
	got := decodeJSON[convJSON](alice.in(t).patch(path, map[string]any{"retention_days": 30}).want(http.StatusOK))
	if got.RetentionDays == nil || *got.RetentionDays != 30 || got.HistoryStartSeq != 1 {
		t.Fatalf("got %+v, want retention 30 and history from seq 1", got)
	}
	bob.in(t).patch(path, map[string]any{"retention_days": 1}).wantError(http.StatusForbidden, model.EForbidden, "")
	got = decodeJSON[convJSON](admin.in(t).patch(path, map[string]any{"retention_days": nil}).want(http.StatusOK))
	if got.RetentionDays != nil {
		t.Fatalf("got %+v, want no retention", got)
	}
	s.register(t, "carol").in(t).patch(path, map[string]any{"retention_days": 1}).wantError(http.StatusNotFound, model.ENotFound, "")
	direct := alice.direct(bob)
	alice.in(t).patch(fmt.Sprintf("/api/v1/channels/%d", direct), map[string]any{"retention_days": 1}).
		wantError(http.StatusNotFound, model.ENotFound, "")
	for _, body := range []string{`{}`, `{"retention_days": 0}`, `{"retention_days": 36501}`, `{"retention_days": 1.5}`, `{"retention_days": "7"}`} {
		alice.in(t).do(request{method: http.MethodPatch, path: path, body: body, invalid: true}).
			wantError(http.StatusUnprocessableEntity, model.EInvalid, "retention_days")
	}
}
