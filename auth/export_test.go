package auth

// VerifierLen returns how many accepted tokens v remembers.
func VerifierLen(v *Verifier) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.accepted)
}

// DummyHashParams returns the argon2id parameters and key length of the hash
// DummyVerify checks against, and those of a hash HashPassword makes now.
func DummyHashParams() (dummy, real [4]uint32) {
	read := func(h string) [4]uint32 {
		pp, _, key, err := parseHash(h)
		if err != nil {
			panic(err)
		}
		return [4]uint32{pp.memory, pp.time, uint32(pp.threads), uint32(len(key))}
	}
	h, err := HashPassword("password")
	if err != nil {
		panic(err)
	}
	return read(dummyHash()), read(h)
}
