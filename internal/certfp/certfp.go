// Package certfp is the one place that spells a certificate's SHA-256
// fingerprint: the clients file, `crgate pki`, `crgate clients` and the
// audit record all use this form, so an operator can copy one into another.
package certfp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Fingerprint is the SHA-256 digest of a certificate's DER encoding.
type Fingerprint [sha256.Size]byte

// Of returns the fingerprint of a DER-encoded certificate.
func Of(der []byte) Fingerprint { return sha256.Sum256(der) }

// String renders the fingerprint as upper-case hex pairs joined by colons,
// the form `openssl x509 -fingerprint -sha256` prints, so operators can
// compare it with tools they already trust.
func (f Fingerprint) String() string {
	const hexdigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(f)*3-1)
	for i, c := range f {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexdigits[c>>4], hexdigits[c&0x0f])
	}
	return string(b)
}

// ErrMalformed is returned (wrapped) for any text that is not a SHA-256
// fingerprint.
var ErrMalformed = errors.New("malformed SHA-256 fingerprint")

// Parse reads a fingerprint written as 64 hex digits, in either case, with
// or without colons between the pairs, optionally prefixed "sha256:" or
// "SHA256 Fingerprint=" (openssl's output). Anything else is refused rather
// than guessed: a mangled fingerprint must not silently match nothing.
func Parse(s string) (Fingerprint, error) {
	var f Fingerprint
	t := strings.TrimSpace(s)
	for _, prefix := range []string{"sha256 fingerprint=", "sha256:"} {
		if len(t) >= len(prefix) && strings.EqualFold(t[:len(prefix)], prefix) {
			t = t[len(prefix):]
			break
		}
	}
	if strings.Contains(t, ":") {
		parts := strings.Split(t, ":")
		if len(parts) != len(f) {
			return f, fmt.Errorf("%w: want %d colon-separated hex pairs, got %d", ErrMalformed, len(f), len(parts))
		}
		for _, p := range parts {
			if len(p) != 2 {
				return f, fmt.Errorf("%w: %q is not a hex pair", ErrMalformed, p)
			}
		}
		t = strings.Join(parts, "")
	}
	if len(t) != hex.EncodedLen(len(f)) {
		return f, fmt.Errorf("%w: want %d hex digits, got %d characters", ErrMalformed, hex.EncodedLen(len(f)), len(t))
	}
	if _, err := hex.Decode(f[:], []byte(t)); err != nil {
		return f, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return f, nil
}
