// Package auth proves who a caller is: it hashes passwords with argon2id,
// issues the access and refresh tokens of a login, and issues and redeems
// the single-use tickets that open a WebSocket from a browser (in memory,
// or in Redis across instances). It imports model, its cryptography
// libraries and the Redis client, never api, db or notify.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// params are argon2id's cost parameters, recorded in every hash so that
// raising them later leaves old hashes verifiable.
type params struct {
	memory  uint32 // KiB
	time    uint32 // passes
	threads uint8
}

// defaultParams are OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
var defaultParams = params{memory: 19 * 1024, time: 2, threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// Bounds on the parameters VerifyPassword accepts, so that a corrupt stored
// hash cannot make one login allocate gigabytes or spin for minutes.
const (
	maxMemory  = 1 << 20 // KiB, 1 GiB
	maxTime    = 16
	maxThreads = 16
)

var b64 = base64.RawStdEncoding

// HashPassword returns an argon2id hash of p in the PHC string format,
// $argon2id$v=19$m=19456,t=2,p=1$salt$key, with a fresh random salt.
func HashPassword(p string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	pp := defaultParams
	key := argon2.IDKey([]byte(p), salt, pp.time, pp.memory, pp.threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, pp.memory, pp.time, pp.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether p matches hash, a string from HashPassword,
// comparing in constant time. It returns an error only if hash is malformed.
func VerifyPassword(hash, p string) (bool, error) {
	pp, salt, key, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(p), salt, pp.time, pp.memory, pp.threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// DummyVerify takes as long as a VerifyPassword that fails. A login naming an
// unknown username calls it, so that the response time does not tell which
// usernames exist.
func DummyVerify(p string) {
	_, _ = VerifyPassword(dummyHash(), p)
}

// dummyHash is the hash of a random password nobody knows, made once.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword(rand.Text())
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return h
})

var errMalformedHash = errors.New("verify password: malformed hash")

// parseHash splits a PHC string into its parameters, salt and key, and
// checks that they are within bounds.
func parseHash(hash string) (params, []byte, []byte, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return params{}, nil, nil, errMalformedHash
	}
	var pp params
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &pp.memory, &pp.time, &pp.threads); err != nil || n != 3 {
		return params{}, nil, nil, errMalformedHash
	}
	if pp.time < 1 || pp.time > maxTime || pp.threads < 1 || pp.threads > maxThreads ||
		pp.memory < 8*uint32(pp.threads) || pp.memory > maxMemory {
		return params{}, nil, nil, errMalformedHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return params{}, nil, nil, errMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return params{}, nil, nil, errMalformedHash
	}
	return pp, salt, key, nil
}
