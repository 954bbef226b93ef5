package db_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"parley/db"
	"parley/model"
)

// token returns the stored form of refresh token name, expiring at expires.
func token(name string, expires time.Time) model.RefreshToken {
	h := sha256.Sum256([]byte(name))
	return model.RefreshToken{Hash: h[:], ExpiresAt: expires}
}

func checkActive(t *testing.T, s *db.Store, id model.SessionID, want bool) {
	t.Helper()
	got, err := s.SessionActive(context.Background(), id)
	if err != nil {
		t.Fatalf("SessionActive(%d): %v", id, err)
	}
	if got != want {
		t.Errorf("SessionActive(%d): got %v, want %v", id, got, want)
	}
}

func TestStore_CreateSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	alice := mustUser(t, s, "alice")

	id, err := s.CreateSession(ctx, alice.ID, token("a1", t0.Add(time.Hour)))
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	checkActive(t, s, id, true)

	_, err = s.CreateSession(ctx, 9999, token("a2", t0.Add(time.Hour)))
	checkCode(t, "CreateSession(unknown user)", err, model.ENotFound)

	checkActive(t, s, 9999, false)
}

func TestStore_RotateRefreshToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clk := newStore(t)
	alice := mustUser(t, s, "alice")
	exp := t0.Add(time.Hour)

	t.Run("OK", func(t *testing.T) {
		session, err := s.CreateSession(ctx, alice.ID, token("ok1", exp))
		if err != nil {
			t.Fatal(err)
		}
		user, got, err := s.RotateRefreshToken(ctx, token("ok1", exp).Hash, token("ok2", exp))
		if err != nil {
			t.Fatalf("RotateRefreshToken: %v", err)
		}
		if user != alice.ID || got != session {
			t.Errorf("RotateRefreshToken: got (%d, %d), want (%d, %d)", user, got, alice.ID, session)
		}
		// The next token rotates in turn.
		if _, _, err := s.RotateRefreshToken(ctx, token("ok2", exp).Hash, token("ok3", exp)); err != nil {
			t.Errorf("RotateRefreshToken(next): got %v, want nil", err)
		}
		checkActive(t, s, session, true)
	})

	t.Run("ErrUnknown", func(t *testing.T) {
		_, _, err := s.RotateRefreshToken(ctx, token("nobody", exp).Hash, token("x", exp))
		checkCode(t, "RotateRefreshToken(unknown)", err, model.EUnauthenticated)
	})

	t.Run("ErrReuseRevokesSession", func(t *testing.T) {
		session, err := s.CreateSession(ctx, alice.ID, token("reuse1", exp))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.RotateRefreshToken(ctx, token("reuse1", exp).Hash, token("reuse2", exp)); err != nil {
			t.Fatalf("first rotation: %v", err)
		}
		clk.Advance(db.DefaultRefreshGrace) // the grace window is over
		defer clk.Advance(-db.DefaultRefreshGrace)
		user, revoked, err := s.RotateRefreshToken(ctx, token("reuse1", exp).Hash, token("reuse3", exp))
		checkCode(t, "RotateRefreshToken(used)", err, model.EUnauthenticated)
		if user != alice.ID || revoked != session {
			t.Errorf("RotateRefreshToken(used): got (%d, %d), want the revoked (%d, %d)", user, revoked, alice.ID, session)
		}
		checkActive(t, s, session, false)
		// Even the newest token of the session is dead now; the session
		// was already revoked, so this call revokes nothing.
		user, revoked, err = s.RotateRefreshToken(ctx, token("reuse2", exp).Hash, token("reuse4", exp))
		checkCode(t, "RotateRefreshToken(newest after reuse)", err, model.EUnauthenticated)
		if user != 0 || revoked != 0 {
			t.Errorf("RotateRefreshToken(newest after reuse): got (%d, %d), want (0, 0)", user, revoked)
		}
	})

	t.Run("ErrRevoked", func(t *testing.T) {
		if _, err := s.CreateSession(ctx, alice.ID, token("rev1", exp)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.RevokeSessionByRefreshToken(ctx, token("rev1", exp).Hash); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.RotateRefreshToken(ctx, token("rev1", exp).Hash, token("rev2", exp))
		checkCode(t, "RotateRefreshToken(revoked)", err, model.EUnauthenticated)
	})

	t.Run("ErrExpired", func(t *testing.T) {
		session, err := s.CreateSession(ctx, alice.ID, token("exp1", t0.Add(time.Minute)))
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute) // now == expires_at: expired
		defer clk.Advance(-time.Minute)
		_, _, err = s.RotateRefreshToken(ctx, token("exp1", t0.Add(time.Minute)).Hash, token("exp2", exp))
		checkCode(t, "RotateRefreshToken(expired)", err, model.EUnauthenticated)
		// An expired token ends nothing else.
		checkActive(t, s, session, true)
	})

	t.Run("GraceLostResponse", func(t *testing.T) {
		session, err := s.CreateSession(ctx, alice.ID, token("lost1", exp))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.RotateRefreshToken(ctx, token("lost1", exp).Hash, token("lost2", exp)); err != nil {
			t.Fatalf("first rotation: %v", err)
		}
		// The answer with lost2 never arrived; the client tries lost1 again.
		clk.Advance(db.DefaultRefreshGrace - time.Second)
		defer clk.Advance(-(db.DefaultRefreshGrace - time.Second))
		user, got, err := s.RotateRefreshToken(ctx, token("lost1", exp).Hash, token("lost3", exp))
		if err != nil || user != alice.ID || got != session {
			t.Fatalf("RotateRefreshToken(used, within the grace window): got (%d, %d, %v), want (%d, %d, nil)", user, got, err, alice.ID, session)
		}
		checkActive(t, s, session, true)
		// The token it got rotates in turn, and the login lives on.
		if _, _, err := s.RotateRefreshToken(ctx, token("lost3", exp).Hash, token("lost4", exp)); err != nil {
			t.Errorf("RotateRefreshToken(the grace token): got %v, want nil", err)
		}
		checkActive(t, s, session, true)
	})

	t.Run("ErrReuseAfterReplacementUsed", func(t *testing.T) {
		session, err := s.CreateSession(ctx, alice.ID, token("stolen1", exp))
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range [][2]string{{"stolen1", "stolen2"}, {"stolen2", "stolen3"}} {
			if _, _, err := s.RotateRefreshToken(ctx, token(step[0], exp).Hash, token(step[1], exp)); err != nil {
				t.Fatalf("rotate %s: %v", step[0], err)
			}
		}
		// Within the grace window, but stolen2 has been used since: the
		// login moved on without whoever presents stolen1 now.
		_, revoked, err := s.RotateRefreshToken(ctx, token("stolen1", exp).Hash, token("stolen4", exp))
		checkCode(t, "RotateRefreshToken(used, replacement used)", err, model.EUnauthenticated)
		if revoked != session {
			t.Errorf("RotateRefreshToken(used, replacement used): got session %d, want the revoked %d", revoked, session)
		}
		checkActive(t, s, session, false)
	})

	t.Run("ConcurrentRefresh", func(t *testing.T) {
		// Two tabs (or a retrying phone) refresh with the same token at
		// once: all get tokens, exactly one rotates, and the login lives.
		session, err := s.CreateSession(ctx, alice.ID, token("race1", exp))
		if err != nil {
			t.Fatal(err)
		}
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, _, errs[i] = s.RotateRefreshToken(ctx, token("race1", exp).Hash, token("race-next-"+string(rune('a'+i)), exp))
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("RotateRefreshToken #%d: got %v, want nil", i, err)
			}
		}
		checkActive(t, s, session, true)
	})

	t.Run("ErrGraceOff", func(t *testing.T) {
		strict, _ := newStore(t)
		strict.RefreshGrace = 0
		bob := mustUser(t, strict, "bob")
		session, err := strict.CreateSession(ctx, bob.ID, token("strict1", exp))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := strict.RotateRefreshToken(ctx, token("strict1", exp).Hash, token("strict2", exp)); err != nil {
			t.Fatal(err)
		}
		_, _, err = strict.RotateRefreshToken(ctx, token("strict1", exp).Hash, token("strict3", exp))
		checkCode(t, "RotateRefreshToken(used, no grace)", err, model.EUnauthenticated)
		checkActive(t, strict, session, false)
	})
}

// TestStore_LoginLifetime checks that a login ends at its lifetime however
// often it is refreshed, and that the purge then removes it.
func TestStore_LoginLifetime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clk := newStore(t)
	s.LoginLifetime = 10 * time.Minute
	alice := mustUser(t, s, "alice")
	far := t0.Add(time.Hour) // beyond the lifetime: the login's end wins

	session, err := s.CreateSession(ctx, alice.ID, token("life1", far))
	if err != nil {
		t.Fatal(err)
	}
	prev := "life1"
	for i := range 3 { // refreshing every 3 minutes does not extend it
		clk.Advance(3 * time.Minute)
		next := fmt.Sprintf("life%d", i+2)
		if _, _, err := s.RotateRefreshToken(ctx, token(prev, far).Hash, token(next, far)); err != nil {
			t.Fatalf("rotate at +%d min: %v", 3*(i+1), err)
		}
		prev = next
	}
	checkActive(t, s, session, true)
	clk.Advance(time.Minute) // +10 min: the lifetime is over
	checkActive(t, s, session, false)
	_, _, err = s.RotateRefreshToken(ctx, token(prev, far).Hash, token("life-late", far))
	checkCode(t, "RotateRefreshToken(past the login's lifetime)", err, model.EUnauthenticated)

	live, err := s.CreateSession(ctx, alice.ID, token("live1", far))
	if err != nil {
		t.Fatal(err)
	}
	sessions, tokens, err := s.PurgeSessions(ctx)
	if err != nil {
		t.Fatalf("PurgeSessions: %v", err)
	}
	if sessions != 1 || tokens != 0 { // the ended login's 4 tokens go with it
		t.Errorf("PurgeSessions: got %d sessions and %d tokens, want 1 and 0", sessions, tokens)
	}
	checkActive(t, s, live, true)
	if _, _, err := s.RotateRefreshToken(ctx, token("live1", far).Hash, token("live2", far)); err != nil {
		t.Errorf("rotate the live login after the purge: %v", err)
	}

	// A used token past its expiry goes too; the login and its newest
	// token stay.
	soon := clk.Now().Add(time.Minute)
	if _, _, err := s.RotateRefreshToken(ctx, token("live2", far).Hash, token("live3", soon)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RotateRefreshToken(ctx, token("live3", soon).Hash, token("live4", far)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	if sessions, tokens, err = s.PurgeSessions(ctx); err != nil || sessions != 0 || tokens != 1 {
		t.Errorf("PurgeSessions: got %d sessions, %d tokens, %v; want 0, 1 (live3, used and expired), nil", sessions, tokens, err)
	}
	checkActive(t, s, live, true)
	if _, _, err := s.RotateRefreshToken(ctx, token("live4", far).Hash, token("live5", far)); err != nil {
		t.Errorf("rotate the newest token after the purge: %v", err)
	}
}

func TestStore_RevokeSessionByRefreshToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clk := newStore(t)
	alice := mustUser(t, s, "alice")
	exp := t0.Add(time.Hour)

	session, err := s.CreateSession(ctx, alice.ID, token("t1", exp))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // twice is not an error
		user, got, err := s.RevokeSessionByRefreshToken(ctx, token("t1", exp).Hash)
		if err != nil {
			t.Fatalf("RevokeSessionByRefreshToken #%d: %v", i+1, err)
		}
		if user != alice.ID || got != session {
			t.Errorf("RevokeSessionByRefreshToken #%d: got (%d, %d), want (%d, %d)", i+1, user, got, alice.ID, session)
		}
	}
	checkActive(t, s, session, false)

	_, _, err = s.RevokeSessionByRefreshToken(ctx, token("unknown", exp).Hash)
	checkCode(t, "RevokeSessionByRefreshToken(unknown)", err, model.EUnauthenticated)

	other, err := s.CreateSession(ctx, alice.ID, token("t2", t0.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	_, _, err = s.RevokeSessionByRefreshToken(ctx, token("t2", t0.Add(time.Minute)).Hash)
	checkCode(t, "RevokeSessionByRefreshToken(expired)", err, model.EUnauthenticated)
	checkActive(t, s, other, true)
}
