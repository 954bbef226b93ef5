package db_test

import (
	"context"
	"crypto/sha256"
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

	t.Run("ConcurrentReuse", func(t *testing.T) {
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
		ok := 0
		for _, err := range errs {
			switch model.ErrorCode(err) {
			case "":
				ok++
			case model.EUnauthenticated:
			default:
				t.Errorf("RotateRefreshToken: got %v, want nil or unauthenticated", err)
			}
		}
		if ok != 1 {
			t.Errorf("successful rotations of one token: got %d, want 1", ok)
		}
		checkActive(t, s, session, false)
	})
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
