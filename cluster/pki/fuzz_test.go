package pki

import "testing"

// FuzzParseToken: a token from an operator's paste must parse to a
// 64-hex fingerprint and a hex secret, or fail; never panic.
func FuzzParseToken(f *testing.F) {
	f.Add("WHARFTKN-1-" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "-" + "00112233445566778899aabbccddeeff0011223344556677")
	f.Fuzz(func(t *testing.T, tok string) {
		fp, secret, err := ParseToken(tok)
		if err != nil {
			return
		}
		if len(fp) != 64 || !isHex(fp) || len(secret) < 32 || !isHex(secret) {
			t.Fatalf("%q -> %q %q", tok, fp, secret)
		}
	})
}
