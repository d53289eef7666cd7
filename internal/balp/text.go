package balp

import (
	"strings"
	"unicode"
	"unicode/utf8"

	d "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// maxText bounds any one free-text value taken from a request (detail,
// error, identifier, certificate subject…): an event must stay well under
// a syslog receiver's 32 KiB limit whatever a client sends.
const maxText = 1024

// clean makes s a valid FHIR string: valid UTF-8 (invalid bytes become
// U+FFFD), no control characters or whitespace other than space, tab, CR
// and LF (FHIR's string pattern `[ \r\n\t\S]+` rejects the rest, e.g.
// U+00A0, U+2028, VT), and at most maxText bytes. Values come from
// clients and guards and end up in log files and syslog lines, so
// anything that could forge a line or break a validator is replaced, never
// passed through. It returns "" for an empty string; callers omit the
// element then (FHIR strings must not be empty).
func clean(s string) string {
	if len(s) > maxText {
		s = truncateUTF8(s, maxText)
	}
	ok := true
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
				ok = false
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || badRune(r) {
			ok = false
			break
		}
		i += n
	}
	if ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s { // ranging over a string yields U+FFFD for bad bytes
		switch {
		case r == '\t' || r == '\r' || r == '\n':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || badRune(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// badRune reports non-ASCII runes FHIR's string pattern rejects (any
// whitespace other than space, tab, CR, LF, as JavaScript's \s defines it,
// which the official JSON schema uses) and C1 controls.
func badRune(r rune) bool {
	return r >= 0x80 && r <= 0x9f || r == 0xfeff || unicode.IsSpace(r)
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// str returns a FHIR string for s, or nil when s is empty after cleaning.
func str(s string) *d.String {
	s = clean(s)
	if s == "" {
		return nil
	}
	return &d.String{Value: s}
}
