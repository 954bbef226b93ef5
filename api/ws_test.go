package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/api"
	"parley/internal/dbtest"
	"parley/model"
)

// TestWebSocket_Bearer checks the channel's main use: a member hears of a
// message posted by another with its ids and seq, then fetches it.
func TestWebSocket_Bearer(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	general := alice.channel("general")
	bob.put(fmt.Sprintf("/api/v1/channels/%d/members/me", general), nil).want(http.StatusOK)
	ws := bob.dial(t)

	msg := alice.send(general, "hello bob")
	ws.want(created(msg))
	got := decodeJSON[pageJSON[messageJSON]](bob.get(fmt.Sprintf("/api/v1/messages?ids=%d", msg.ID)).want(http.StatusOK))
	if len(got.Items) != 1 || got.Items[0].Body != "hello bob" || got.Items[0].Seq != msg.Seq {
		t.Errorf("GET /messages?ids=%d: got %+v, want the message", msg.ID, got.Items)
	}
	// The sender's own connections hear of it too.
	mine := alice.dial(t)
	second := bob.send(general, "hi alice")
	mine.want(created(second))
	ws.want(created(second))
}

func TestWebSocket_Ticket(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	conv := alice.direct(bob)

	ticket := func(u *user) string {
		t.Helper()
		r := u.post("/api/v1/ws/tickets", nil).want(http.StatusCreated)
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("got Cache-Control %q, want no-store", got)
		}
		got := decodeJSON[struct {
			Ticket    string    `json:"ticket"`
			ExpiresAt time.Time `json:"expires_at"`
		}](r)
		if got.Ticket == "" || time.Until(got.ExpiresAt) > 30*time.Second || time.Until(got.ExpiresAt) <= 0 {
			t.Fatalf("got %+v, want a ticket that expires within 30 s", got)
		}
		return got.Ticket
	}

	tk := ticket(bob)
	ws := s.dialWS(t, bob.ID, nil, "?ticket="+tk)
	ws.want(created(alice.send(conv, "over a ticket")))

	t.Run("ErrUsedTwice", func(t *testing.T) {
		status, body := s.refusedWS(t, nil, "?ticket="+tk)
		wantRefusal(t, status, body, http.StatusUnauthorized, model.EUnauthenticated)
	})
	t.Run("NeverLogged", func(t *testing.T) {
		if strings.Contains(s.logs.String(), tk) {
			t.Error("the ticket is in the log")
		}
		if !strings.Contains(s.logs.String(), `"path":"/api/v1/ws"`) {
			t.Error("the WebSocket request was not logged")
		}
	})
	t.Run("ErrUnauthenticated", func(t *testing.T) {
		s.client(t).post("/api/v1/ws/tickets", nil).wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
	})
	t.Run("RateLimited", func(t *testing.T) {
		s := newServer(t, func(cfg *api.Config) { cfg.Limits.TicketPerUser = api.Rate{N: 1, Per: time.Hour} })
		carol := s.register(t, "carol")
		carol.post("/api/v1/ws/tickets", nil).want(http.StatusCreated)
		r := carol.post("/api/v1/ws/tickets", nil)
		r.wantError(http.StatusTooManyRequests, model.ERateLimited, "")
	})
}

// TestWebSocket_TicketExpires uses tickets that expire as soon as they are
// issued: notify.MemoryTickets takes its lifetime, not a clock.
func TestWebSocket_TicketExpires(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	s := startServer(t, database, database, options{cfg: api.Config{JWTSecret: secret, Limits: generous}, ticketTTL: time.Nanosecond})
	bob := s.register(t, "bob")
	r := bob.post("/api/v1/ws/tickets", nil).want(http.StatusCreated)
	var got struct {
		Ticket string `json:"ticket"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	status, body := s.refusedWS(t, nil, "?ticket="+got.Ticket)
	wantRefusal(t, status, body, http.StatusUnauthorized, model.EUnauthenticated)
}

// wantRefusal fails the test unless a refused handshake got status and a
// JSON error with code.
func wantRefusal(t testing.TB, status int, body []byte, wantStatus int, code model.Code) {
	t.Helper()
	var e struct {
		Error struct {
			Code model.Code `json:"code"`
		} `json:"error"`
	}
	if status != wantStatus || json.Unmarshal(body, &e) != nil || e.Error.Code != code {
		t.Errorf("got %d %s, want %d with code %s", status, body, wantStatus, code)
	}
}

// TestWebSocket_Refused checks that nothing is upgraded without valid
// credentials of an active login and an acceptable Origin, and that the
// refusals are the JSON errors openapi.yaml describes.
func TestWebSocket_Refused(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(cfg *api.Config) { cfg.AllowedOrigins = []string{"https://app.example"} })
	bob := s.register(t, "bob")
	gone := s.login(t, bob)
	gone.post("/api/v1/auth/logout", map[string]string{"refresh_token": gone.Tokens.RefreshToken}).want(http.StatusNoContent)
	bearer := func(token string) map[string]string { return map[string]string{"Authorization": "Bearer " + token} }
	with := func(h map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for k, v := range h {
			out[k] = v
		}
		return out
	}

	tests := []struct {
		name   string
		header map[string]string
		query  string
		status int
		code   model.Code
	}{
		{"ErrNoCredentials", nil, "", 401, model.EUnauthenticated},
		{"ErrBadToken", bearer("not-a-token"), "", 401, model.EUnauthenticated},
		{"ErrNotBearer", map[string]string{"Authorization": "Basic Ym9iOnB3"}, "", 401, model.EUnauthenticated},
		{"ErrBadTicket", nil, "?ticket=made-up", 401, model.EUnauthenticated},
		{"ErrLongTicket", nil, "?ticket=" + strings.Repeat("a", 257), 401, model.EUnauthenticated},
		{"ErrLoggedOut", bearer(gone.token), "", 401, model.EUnauthenticated},
		{"ErrForeignOrigin", with(bearer(bob.token), "Origin", "https://evil.example"), "", 403, model.EForbidden},
		{"ErrForeignScheme", with(bearer(bob.token), "Origin", "http://app.example"), "", 403, model.EForbidden},
		{"ErrNullOrigin", with(bearer(bob.token), "Origin", "null"), "", 403, model.EForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header := http.Header{}
			for k, v := range tt.header {
				header.Set(k, v)
			}
			status, body := s.refusedWS(t, header, tt.query)
			wantRefusal(t, status, body, tt.status, tt.code)
			// The same request without the upgrade, checked against openapi.yaml.
			s.client(t).do(request{method: http.MethodGet, path: "/api/v1/ws" + tt.query, header: tt.header,
				invalid: len(tt.query) > 200}).wantError(tt.status, tt.code, "")
		})
	}

	t.Run("AllowedOrigin", func(t *testing.T) {
		t.Parallel()
		s.dialWS(t, bob.ID, http.Header{"Authorization": {"Bearer " + bob.token}, "Origin": {"https://app.example"}}, "")
	})
	t.Run("SameOrigin", func(t *testing.T) {
		t.Parallel()
		s.dialWS(t, bob.ID, http.Header{"Authorization": {"Bearer " + bob.token}, "Origin": {s.url}}, "")
	})
	t.Run("ErrNotAHandshake", func(t *testing.T) {
		t.Parallel()
		r := bob.in(t).get("/api/v1/ws")
		if r.Status != http.StatusUpgradeRequired {
			t.Errorf("got %d, want 426", r.Status)
		}
	})
}

// TestWebSocket_NonMember checks that a user never hears of a conversation
// they are not in: the next frame after other people's events is one about
// their own conversation.
func TestWebSocket_NonMember(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob, carol := s.register(t, "alice"), s.register(t, "bob"), s.register(t, "carol")
	secret := alice.channel("secret")
	bob.put(fmt.Sprintf("/api/v1/channels/%d/members/me", secret), nil).want(http.StatusOK)
	mine := carol.direct(alice)
	ws := carol.dial(t)

	m := alice.send(secret, "not for carol")
	alice.patch(fmt.Sprintf("/api/v1/messages/%d", m.ID), map[string]string{"body": "edited"}).want(http.StatusOK)
	alice.delete(fmt.Sprintf("/api/v1/messages/%d", m.ID)).want(http.StatusOK)
	bob.put(fmt.Sprintf("/api/v1/conversations/%d/read", secret), map[string]int64{"seq": m.Seq}).want(http.StatusNoContent)
	bob.delete(fmt.Sprintf("/api/v1/channels/%d/members/me", secret)).want(http.StatusNoContent)
	bob.put(fmt.Sprintf("/api/v1/channels/%d/members/me", secret), nil).want(http.StatusOK)
	dave := s.register(t, "dave")
	alice.direct(dave)

	ws.want(created(alice.send(mine, "for carol")))
}

// TestWebSocket_Membership checks that leaving a channel stops its events
// at once and joining starts them, on a connection that stays open.
func TestWebSocket_Membership(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	general := alice.channel("general")
	direct := alice.direct(bob)
	members := fmt.Sprintf("/api/v1/channels/%d/members/me", general)
	bob.put(members, nil).want(http.StatusOK)
	wsBob, wsAlice := bob.dial(t), alice.dial(t)

	bob.delete(members).want(http.StatusNoContent)
	wsBob.want(left(general))
	wsAlice.want(memberLeft(general, bob.ID))
	bob.delete(members).want(http.StatusNoContent) // no longer a member: nothing to tell
	gone := alice.send(general, "bob has left")
	still := alice.send(direct, "still here")
	wsBob.want(created(still))
	wsAlice.want(created(gone), created(still))

	bob.put(members, nil).want(http.StatusOK)
	wsBob.want(joined(general))
	wsAlice.want(memberJoined(general, bob.ID))
	bob.put(members, nil).want(http.StatusOK) // already a member: nothing to tell
	back := alice.send(general, "welcome back")
	wsBob.want(created(back))
	wsAlice.want(created(back))
}

// TestWebSocket_NewConversations checks that creating a channel or a
// direct conversation makes its members' open connections receive it.
func TestWebSocket_NewConversations(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	wsAlice, wsBob := alice.dial(t), bob.dial(t)

	ch := alice.channel("fresh")
	wsAlice.want(joined(ch))
	wsAlice.want(created(alice.send(ch, "first")))

	direct := alice.direct(bob)
	wsAlice.want(joined(direct))
	wsBob.want(joined(direct))
	alice.direct(bob) // exists: nothing to tell
	m := alice.send(direct, "psst")
	wsAlice.want(created(m))
	wsBob.want(created(m))

	notes := bob.direct(bob) // a note to self: told once
	wsBob.want(joined(notes))
	wsBob.want(created(bob.send(notes, "todo")))
}

// TestWebSocket_MessageEvents checks the events of posting (once, however
// often a post is retried), editing, deleting and reading.
func TestWebSocket_MessageEvents(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	conv := alice.direct(bob)
	phone, laptop := bob.dial(t), s.login(t, bob).dial(t)
	wsAlice := alice.dial(t)
	path := fmt.Sprintf("/api/v1/conversations/%d/messages", conv)

	req := map[string]string{"body": "once", "client_msg_id": "k1"}
	m := decodeJSON[messageJSON](alice.post(path, req).want(http.StatusCreated))
	alice.post(path, req).want(http.StatusOK) // a retry: already announced
	m2 := alice.send(conv, "twice")
	for _, ws := range []*wsClient{phone, laptop, wsAlice} {
		ws.want(created(m), created(m2))
	}

	e := decodeJSON[messageJSON](alice.patch(fmt.Sprintf("/api/v1/messages/%d", m.ID), map[string]string{"body": "edited"}).want(http.StatusOK))
	d := decodeJSON[messageJSON](alice.delete(fmt.Sprintf("/api/v1/messages/%d", m2.ID)).want(http.StatusOK))
	for _, ws := range []*wsClient{phone, laptop, wsAlice} {
		ws.want(updated(e), deleted(d))
	}

	// Reading moves the marker on all of bob's devices, and tells no one else.
	read := fmt.Sprintf("/api/v1/conversations/%d/read", conv)
	bob.put(read, map[string]int64{"seq": 2}).want(http.StatusNoContent)
	bob.put(read, map[string]int64{"seq": 1}).want(http.StatusNoContent) // does not move: nothing to tell
	bob.put(read, map[string]int64{"seq": 0}).want(http.StatusNoContent)
	m3 := alice.send(conv, "after reading")
	phone.want(readUpdated(conv, 2), created(m3))
	laptop.want(readUpdated(conv, 2), created(m3))
	wsAlice.want(created(m3))
}

// TestWebSocket_LoginEnds checks that a connection does not outlive its
// login: logging out, or reusing a refresh token, closes it with 4001,
// while the user's other logins stay connected.
func TestWebSocket_LoginEnds(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	conv := alice.direct(bob)
	other := s.login(t, bob)
	stays := other.dial(t)

	t.Run("Logout", func(t *testing.T) {
		u := s.login(t, bob)
		ws, sse := u.in(t).dial(t), u.in(t).stream(t, "")
		u.post("/api/v1/auth/logout", map[string]string{"refresh_token": u.Tokens.RefreshToken}).want(http.StatusNoContent)
		ws.wantClosed(4001, "logged out")
		_ = sse.ended() // the stream just ends: SSE has no close code
		// The access token is still valid, but the login is not.
		status, body := s.refusedWS(t, http.Header{"Authorization": {"Bearer " + u.token}}, "")
		wantRefusal(t, status, body, http.StatusUnauthorized, model.EUnauthenticated)
		u.in(t).get("/api/v1/events").wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
		u.in(t).post("/api/v1/ws/tickets", nil).wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
	})
	t.Run("RefreshReuse", func(t *testing.T) {
		u := s.login(t, bob)
		ws := u.in(t).dial(t)
		refresh := map[string]string{"refresh_token": u.Tokens.RefreshToken}
		next := decodeJSON[tokensJSON](s.client(t).post("/api/v1/auth/refresh", refresh).want(http.StatusOK))
		s.client(t).post("/api/v1/auth/refresh", map[string]string{"refresh_token": next.RefreshToken}).want(http.StatusOK)
		s.client(t).post("/api/v1/auth/refresh", refresh).wantError(http.StatusUnauthorized, model.EUnauthenticated, "")
		ws.wantClosed(4001, "login revoked")
	})
	// The other login of bob's stayed connected throughout.
	stays.want(created(alice.send(conv, "still connected")))
}

// TestWebSocket_Presence checks online in user profiles and member lists.
func TestWebSocket_Presence(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	conv := alice.direct(bob)
	profile := func() bool {
		t.Helper()
		return decodeJSON[userProfileJSON](alice.get(fmt.Sprintf("/api/v1/users/%d", bob.ID)).want(http.StatusOK)).Online
	}
	membersOnline := func() map[string]bool {
		t.Helper()
		got := map[string]bool{}
		for _, m := range decodeJSON[pageJSON[memberJSON]](alice.get(fmt.Sprintf("/api/v1/conversations/%d/members", conv)).want(http.StatusOK)).Items {
			got[m.Username] = m.Online
		}
		return got
	}
	if profile() {
		t.Error("bob is online before connecting")
	}
	wsAlice := alice.dial(t)
	wsBob := bob.dial(t)
	wsAlice.waitFor(presence(bob.ID, true))
	if !profile() {
		t.Error("bob is offline while connected")
	}
	if got := membersOnline(); !got["alice"] || !got["bob"] {
		t.Errorf("got members online %v, want both", got)
	}
	_ = wsBob.ws.Close(websocket.StatusNormalClosure, "")
	wsAlice.waitFor(presence(bob.ID, false))
	if profile() {
		t.Error("bob is online after disconnecting")
	}
	if got := membersOnline(); !got["alice"] || got["bob"] {
		t.Errorf("got members online %v, want alice only", got)
	}
}

// TestWebSocket_FrameWithHandshake sends a typing frame in the same packet
// as the handshake, before the server has answered it: the frame must
// survive the switch to the WebSocket's own buffers.
func TestWebSocket_FrameWithHandshake(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	general := alice.channel("general")
	bob.put(fmt.Sprintf("/api/v1/channels/%d/members/me", general), nil).want(http.StatusOK)
	ws := alice.dial(t)

	host := strings.TrimPrefix(s.url, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	handshake := "GET /api/v1/ws HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Authorization: Bearer " + bob.token + "\r\n\r\n"
	payload := fmt.Sprintf(`{"type":"typing","conversation_id":%d}`, general)
	mask := [4]byte{1, 2, 3, 4}
	frame := append([]byte{0x81, 0x80 | byte(len(payload))}, mask[:]...) // FIN, text, masked, length < 126
	for i := range len(payload) {
		frame = append(frame, payload[i]^mask[i%4])
	}
	if _, err := conn.Write(append([]byte(handshake), frame...)); err != nil {
		t.Fatal(err)
	}
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		t.Fatalf("handshake answered %q, %v; want 101", status, err)
	}
	ws.waitFor(eventFrame{Type: "typing", ConversationID: general, UserID: bob.ID})
}
