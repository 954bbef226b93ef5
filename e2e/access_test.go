package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// closeLoginEnded is the close code of a connection whose login ended
// (asyncapi.yaml).
const closeLoginEnded = 4001

// TestAccess_AcrossInstances: events reach members only, wherever they are
// connected. A non-member hears nothing about a conversation; a member who
// leaves hears nothing more from the moment the leave is acknowledged; a
// logout or a revoked login closes that login's sockets on the other
// instance too, and only that login's.
func TestAccess_AcrossInstances(t *testing.T) {
	t.Parallel()
	_, a, b := startPair(t, nil)

	alice := register(t, a.URL, "alice")
	bob := register(t, a.URL, "bob")
	carol := register(t, b.URL, "carol")
	dave := register(t, b.URL, "dave")
	secret := createChannel(t, a.URL, alice, "secret")
	join(t, b.URL, bob, secret)
	join(t, a.URL, dave, secret)
	lobby := createChannel(t, b.URL, carol, "lobby")
	join(t, a.URL, bob, lobby)
	join(t, a.URL, dave, lobby)

	// Everyone but alice listens on B; alice posts and types through A.
	aliceWS := connect(t, a.URL, alice, "alice@A")
	bobWS := connect(t, b.URL, bob, "bob@B")
	carolWS := connect(t, b.URL, carol, "carol@B")
	daveWS := connect(t, b.URL, dave, "dave@B")

	t.Run("NonMemberHearsNothing", func(t *testing.T) {
		// Every kind of event about the secret channel, from both sides.
		m1 := post(t, a.URL, alice, secret, "one")
		m2 := post(t, b.URL, alice, secret, "two")
		must(t, a.URL, alice.Access, http.MethodPatch, fmt.Sprintf("/api/v1/messages/%d", m1.ID),
			map[string]string{"body": "one, edited"}, nil, http.StatusOK)
		must(t, b.URL, alice.Access, http.MethodDelete, fmt.Sprintf("/api/v1/messages/%d", m2.ID), nil, nil, http.StatusOK)
		must(t, b.URL, bob.Access, http.MethodPut, fmt.Sprintf("/api/v1/conversations/%d/read", secret),
			map[string]int64{"seq": m2.Seq}, nil, http.StatusNoContent)
		aliceWS.send(t, map[string]any{"type": "typing", "conversation_id": secret})
		// carol tries to type into a conversation she is not in.
		carolWS.send(t, map[string]any{"type": "typing", "conversation_id": secret})

		// dave, on carol's instance, gets them all: B has dispatched them.
		daveWS.waitCreated(t, deliveryTimeout, m1)
		daveWS.waitCreated(t, deliveryTimeout, m2)
		for _, typ := range []string{"message.updated", "message.deleted", "typing"} {
			daveWS.waitFor(t, deliveryTimeout, typ+" about the secret channel", func(e event) bool {
				return e.Type == typ && e.about(secret)
			})
		}
		bobWS.waitFor(t, deliveryTimeout, "read.updated", func(e event) bool { return e.Type == "read.updated" && e.about(secret) })

		// A sentinel after all of it, in a conversation carol is in: once
		// she has it, anything about the secret channel would have come
		// before it on her socket.
		s := post(t, a.URL, bob, lobby, "sentinel")
		carolWS.waitCreated(t, deliveryTimeout, s)
		for _, e := range carolWS.received() {
			if e.about(secret) {
				t.Errorf("carol, not a member, received %v", e)
			}
			if e.Type == "presence" && e.UserID == alice.ID {
				t.Errorf("carol, who shares no conversation with alice, received %v", e)
			}
		}
		bobWS.waitCreated(t, deliveryTimeout, s)
		for _, e := range bobWS.received() {
			if e.Type == "typing" && e.UserID == carol.ID {
				t.Errorf("carol's typing in a conversation she is not in reached bob: %v", e)
			}
		}

		// Nor can she fetch what she never heard about.
		if got := getMessages(t, b.URL, carol, m1.ID, m2.ID); len(got) != 0 {
			t.Errorf("carol fetched %+v from a conversation she is not in", got)
		}
		must(t, b.URL, carol.Access, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d/messages", secret),
			nil, nil, http.StatusNotFound)
	})

	t.Run("LeaveStopsAtOnce", func(t *testing.T) {
		// dave leaves through A while connected to B, and the very next
		// post, through B, must not reach him.
		leave(t, a.URL, dave, secret)
		m := post(t, b.URL, alice, secret, "after dave left")
		bobWS.waitCreated(t, deliveryTimeout, m)
		s := post(t, a.URL, carol, lobby, "sentinel for dave")
		daveWS.waitCreated(t, deliveryTimeout, s)

		left := false
		for _, e := range daveWS.received() {
			switch {
			case e.Type == "conversation.left" && e.about(secret):
				left = true
			case left && e.about(secret):
				t.Errorf("dave received %v after conversation.left", e)
			}
		}
		if !left {
			t.Errorf("dave got no conversation.left for the channel he left")
		}
	})

	t.Run("LogoutClosesOtherInstance", func(t *testing.T) {
		// bob's phone (the login bobWS belongs to, on B) and laptop (a
		// second login, on A).
		laptop := login(t, a.URL, bob)
		laptopWS := connect(t, a.URL, laptop, "bob-laptop@A")

		start := time.Now()
		must(t, a.URL, "", http.MethodPost, "/api/v1/auth/logout",
			map[string]string{"refresh_token": bob.Refresh}, nil, http.StatusNoContent)
		code, reason := bobWS.waitClosed(t, 5*time.Second)
		if code != closeLoginEnded {
			t.Errorf("bob's phone socket on B closed with %d %q after logout through A, want %d", code, reason, closeLoginEnded)
		}
		t.Logf("logout through A closed the socket on B in %s", time.Since(start).Round(time.Millisecond))

		// The laptop's login did not end: it still hears events.
		m := post(t, b.URL, carol, lobby, "still there, laptop?")
		laptopWS.waitCreated(t, deliveryTimeout, m)

		// A used refresh token presented again after the login moved on
		// (its replacement was used) revokes the login (it leaked): the
		// laptop's socket on A closes too, though the reuse came through B.
		var fresh tokens
		must(t, b.URL, "", http.MethodPost, "/api/v1/auth/refresh",
			map[string]string{"refresh_token": laptop.Refresh}, &fresh, http.StatusOK)
		must(t, a.URL, "", http.MethodPost, "/api/v1/auth/refresh",
			map[string]string{"refresh_token": fresh.RefreshToken}, nil, http.StatusOK)
		start = time.Now()
		must(t, b.URL, "", http.MethodPost, "/api/v1/auth/refresh",
			map[string]string{"refresh_token": laptop.Refresh}, nil, http.StatusUnauthorized)
		code, reason = laptopWS.waitClosed(t, 5*time.Second)
		if code != closeLoginEnded {
			t.Errorf("laptop socket on A closed with %d %q after its refresh token was reused through B, want %d",
				code, reason, closeLoginEnded)
		}
		t.Logf("refresh-token reuse through B closed the socket on A in %s", time.Since(start).Round(time.Millisecond))
	})
}

// TestRateLimit_AcrossInstances: the login limit per username holds for the
// deployment, not per instance. Attempts split between A and B are refused
// at the same count as attempts all on A.
func TestRateLimit_AcrossInstances(t *testing.T) {
	t.Parallel()
	const limit = 5
	_, a, b := startPair(t, map[string]string{"PARLEY_RATE_AUTH_USERNAME": fmt.Sprintf("%d/1h", limit)})
	solo := register(t, a.URL, "solo")
	split := register(t, b.URL, "split")

	// attempts logs in as u with a wrong password, through bases in turn,
	// until refused with 429, and returns the number of that attempt.
	attempts := func(u *user, bases ...string) int {
		for n := 1; n <= 4*limit; n++ {
			status := must(t, bases[n%len(bases)], "", http.MethodPost, "/api/v1/auth/login",
				map[string]string{"username": u.Name, "password": "wrong password"}, nil,
				http.StatusUnauthorized, http.StatusTooManyRequests)
			if status == http.StatusTooManyRequests {
				return n
			}
		}
		t.Fatalf("%s: no 429 in %d login attempts", u.Name, 4*limit)
		return 0
	}
	one := attempts(solo, a.URL)
	two := attempts(split, a.URL, b.URL)
	if one != limit+1 {
		t.Errorf("one instance: first 429 at attempt %d, want %d", one, limit+1)
	}
	if two != one {
		t.Errorf("split across two instances: first 429 at attempt %d, want %d as on one", two, one)
	}

	// Refused on both instances now, the right password included.
	for _, base := range []string{a.URL, b.URL} {
		must(t, base, "", http.MethodPost, "/api/v1/auth/login",
			map[string]string{"username": split.Name, "password": split.Password}, nil, http.StatusTooManyRequests)
	}
}
