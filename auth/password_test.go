package auth_test

import (
	"strings"
	"testing"

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
// TestDummyVerify checks that a login naming an unknown user does the work
// of a failed password check: the dummy hash has the parameters and key
// length of a real one, so its verification costs the same (a benchmark, not
// a timed test, is the place to compare durations).
func TestDummyVerify(t *testing.T) {
	t.Parallel()
	dummy, real := auth.DummyHashParams()
	if dummy != real {
		t.Errorf("got dummy hash parameters (memory, time, threads, key length) %v, want those of a real hash %v", dummy, real)
	}
	auth.DummyVerify("guess") // must not panic on its own hash
}
