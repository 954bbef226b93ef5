package auth_test

import (
	"strings"
	"testing"
	"time"

	"parley/auth"
)

func TestHashPassword(t *testing.T) {
	t.Parallel()
	hash, err := auth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(hash, want) {
		t.Errorf("got hash %q, want prefix %q", hash, want)
	}
	again, err := auth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if again == hash {
		t.Error("two hashes of one password are equal; want distinct salts")
	}

	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"OK", "correct horse", true},
		{"ErrWrong", "correct horse ", false},
		{"ErrEmpty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := auth.VerifyPassword(hash, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerifyPassword_Malformed(t *testing.T) {
	t.Parallel()
	good, err := auth.HashPassword("password")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	tests := map[string]string{
		"Empty":        "",
		"Bcrypt":       "$2a$10$abcdefghijklmnopqrstuuFZq0gE1kmx1z1Y0rQXJx8C0GbF4h0n2",
		"Argon2i":      strings.Replace(good, "argon2id", "argon2i", 1),
		"OldVersion":   strings.Replace(good, "v=19", "v=16", 1),
		"HugeMemory":   strings.Replace(good, "m=19456", "m=4194304", 1),
		"ZeroTime":     strings.Replace(good, "t=2", "t=0", 1),
		"ManyThreads":  strings.Replace(good, "p=1", "p=255", 1),
		"BadSalt":      strings.Join([]string{"", parts[1], parts[2], parts[3], "!!", parts[5]}, "$"),
		"ShortKey":     strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
		"ExtraSegment": good + "$x",
	}
	for name, hash := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if ok, err := auth.VerifyPassword(hash, "password"); err == nil || ok {
				t.Errorf("got %v, %v; want false and an error", ok, err)
			}
		})
	}
}

// TestDummyVerify checks that a login for an unknown user costs about as much
// as one with a wrong password, so timing does not reveal which users exist.
func TestDummyVerify(t *testing.T) {
	t.Parallel()
	hash, err := auth.HashPassword("password")
	if err != nil {
		t.Fatal(err)
	}
	auth.DummyVerify("warm up") // the first call also makes the dummy hash
	// The fastest of a few runs each, as other tests share the CPU.
	dummy, real := time.Hour, time.Hour
	for range 3 {
		start := time.Now()
		auth.DummyVerify("guess")
		dummy = min(dummy, time.Since(start))
		start = time.Now()
		if _, err := auth.VerifyPassword(hash, "guess"); err != nil {
			t.Fatal(err)
		}
		real = min(real, time.Since(start))
	}
	if dummy < real/4 || dummy > real*4 {
		t.Errorf("got DummyVerify %v and VerifyPassword %v; want them of one order", dummy, real)
	}
}
