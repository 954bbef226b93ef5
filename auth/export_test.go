package auth

// VerifierLen returns how many accepted tokens v remembers.
func VerifierLen(v *Verifier) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.accepted)
}
