package fhirreq

import (
	"strings"
	"unicode/utf8"
)

// MaxPathLen bounds the request path Canonicalize accepts. FHIR REST paths
// are short (base, type, id, _history, version, $operation); anything
// longer is not a FHIR request and only costs work.
const MaxPathLen = 2048

// PathReason says why Canonicalize refused a path. The values are a closed
// set of stable labels, used in metrics and audit records.
type PathReason string

// Why a path is refused. Every one of them is a spelling that two
// reasonable servers (a servlet container such as Tomcat or Jetty, Node's
// Express, Go's net/http) could read differently, so the gateway cannot
// judge the path the upstream will serve.
const (
	// ReasonNotOriginForm: the request target is not "/…": absolute-form
	// ("http://host/…"), asterisk-form ("*") or empty.
	ReasonNotOriginForm PathReason = "not_origin_form"
	// ReasonTooLong: longer than MaxPathLen.
	ReasonTooLong PathReason = "too_long"
	// ReasonSemicolon: ';' raw or encoded. Servlet containers strip
	// ";params" from each segment ("/home;jsessionid=x" is "/home",
	// "/fhir/..;/home" traverses); Express and Go keep them.
	ReasonSemicolon PathReason = "semicolon"
	// ReasonBackslash: '\' raw or encoded. Some servers treat it as '/'.
	ReasonBackslash PathReason = "backslash"
	// ReasonEncodedSeparator: %2F ('/'), %3F ('?') or %23 ('#'). Whether
	// an encoded slash separates segments depends on the server
	// (Tomcat's ALLOW_ENCODED_SLASH, Express decodes per route parameter).
	ReasonEncodedSeparator PathReason = "encoded_separator"
	// ReasonEncodedDot: %2E. Encoded dots have formed dot segments after
	// a server's own decoding ("/%2e%2e/").
	ReasonEncodedDot PathReason = "encoded_dot"
	// ReasonDoubleEncoding: %25, i.e. an escape that decodes to another
	// escape: a second decode anywhere downstream would change the path.
	ReasonDoubleEncoding PathReason = "double_encoding"
	// ReasonBadEscape: '%' not followed by two hex digits.
	ReasonBadEscape PathReason = "bad_escape"
	// ReasonDotSegment: a "." or ".." segment, which servers resolve (or
	// not) differently, and before or after stripping ";params".
	ReasonDotSegment PathReason = "dot_segment"
	// ReasonEmptySegment: "//" inside the path. Some servers merge
	// slashes, others route "//x" differently from "/x".
	ReasonEmptySegment PathReason = "empty_segment"
	// ReasonTrailingSlash: a path other than "/" ending in '/'. FHIR
	// clients do not send one; HAPI ignores it, Express routes it
	// differently, so "/fhir/Patient/" is refused rather than guessed.
	ReasonTrailingSlash PathReason = "trailing_slash"
	// ReasonControl: a control character or NUL, raw or encoded.
	ReasonControl PathReason = "control_character"
	// ReasonOverlongUTF8: an overlong UTF-8 sequence (%C0%AE is '.' to a
	// lenient decoder): the classic container traversal bypass.
	ReasonOverlongUTF8 PathReason = "overlong_utf8"
	// ReasonInvalidUTF8: bytes ≥ 0x80 that are not valid UTF-8.
	ReasonInvalidUTF8 PathReason = "invalid_utf8"
	// ReasonNonASCII: valid UTF-8 beyond ASCII. No FHIR REST path (R4
	// resource types, ids, operation names, base paths) contains it, and
	// servers disagree on normalisation (NFC, full-width '．').
	ReasonNonASCII PathReason = "non_ascii"
	// ReasonDisallowedChar: an ASCII character outside the FHIR path
	// alphabet (letters, digits, '-', '.', '_', '~', '$'), raw or
	// encoded, e.g. '+' (a space to some decoders), '*' and ','
	// (Elasticsearch wildcards and index lists), ':' or '@'.
	ReasonDisallowedChar PathReason = "disallowed_character"
)

// PathError is Canonicalize's refusal.
type PathError struct {
	Reason PathReason
	// Offset is the byte offset in the raw path where the problem was
	// found.
	Offset int
}

func (e *PathError) Error() string {
	return "ambiguous request path: " + string(e.Reason)
}

// pathChar marks the bytes a canonical path may contain besides '/'.
var pathChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~$" {
		t[c] = true
	}
	return t
}()

// SplitTarget splits a request target as the client sent it
// (http.Request.RequestURI) into its path and raw query. Only origin-form
// ("/path?query") is a FHIR request; absolute-form and asterisk-form are
// refused, because which path they name depends on how each hop reads the
// authority.
func SplitTarget(requestURI string) (path, rawQuery string, err error) {
	if requestURI == "" || requestURI[0] != '/' {
		return "", "", &PathError{Reason: ReasonNotOriginForm}
	}
	path, rawQuery, _ = strings.Cut(requestURI, "?")
	return path, rawQuery, nil
}

// Canonicalize returns the one reading of a raw (still percent-encoded)
// request path that every upstream server agrees on, or a *PathError when
// servers could disagree. Escapes are decoded exactly once; the result
// contains only '/', ASCII letters and digits and "-._~$", so it is its own
// canonical form (Canonicalize is idempotent) and no further decoding can
// change it. A path without escapes is returned as is, without allocating.
func Canonicalize(raw string) (string, error) {
	if raw == "" || raw[0] != '/' {
		return "", &PathError{Reason: ReasonNotOriginForm}
	}
	if len(raw) > MaxPathLen {
		return "", &PathError{Reason: ReasonTooLong}
	}
	escapes := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '/' || pathChar[c]:
			continue
		case c == '%':
			escapes = true
			d, ok := unhex2(raw, i)
			if !ok {
				return "", &PathError{Reason: ReasonBadEscape, Offset: i}
			}
			if d >= 0x80 {
				return "", &PathError{Reason: escapedUTF8(raw[i:]), Offset: i}
			}
			if r := encodedReason(d); r != "" {
				return "", &PathError{Reason: r, Offset: i}
			}
			i += 2
		default:
			return "", &PathError{Reason: rawReason(raw, i), Offset: i}
		}
	}
	out := raw
	if escapes {
		var b strings.Builder
		b.Grow(len(raw))
		for i := 0; i < len(raw); i++ {
			if c := raw[i]; c != '%' {
				b.WriteByte(c)
				continue
			}
			d, _ := unhex2(raw, i)
			b.WriteByte(d)
			i += 2
		}
		out = b.String()
	}
	if err := checkSegments(out); err != nil {
		return "", err
	}
	return out, nil
}

// checkSegments refuses empty and dot segments and a trailing slash. It
// runs on the decoded path; since encoded '/' and '.' are refused, the
// segments are the same ones the raw path had.
func checkSegments(p string) error {
	if p == "/" {
		return nil
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		seg := p[start:i]
		switch {
		case seg == "" && i == len(p):
			return &PathError{Reason: ReasonTrailingSlash, Offset: i - 1}
		case seg == "":
			return &PathError{Reason: ReasonEmptySegment, Offset: i}
		case seg == "." || seg == "..":
			return &PathError{Reason: ReasonDotSegment, Offset: start}
		}
		start = i + 1
	}
	return nil
}

// encodedReason judges a byte that arrived percent-encoded: "" when its
// decoded form is as unambiguous as if it had been sent raw.
func encodedReason(d byte) PathReason {
	switch {
	case d < 0x20 || d == 0x7f:
		return ReasonControl
	case d == '/' || d == '?' || d == '#':
		return ReasonEncodedSeparator
	case d == '.':
		return ReasonEncodedDot
	case d == '%':
		return ReasonDoubleEncoding
	case d == ';':
		return ReasonSemicolon
	case d == '\\':
		return ReasonBackslash
	case !pathChar[d]:
		return ReasonDisallowedChar
	}
	return ""
}

// rawReason judges a raw byte outside the path alphabet.
func rawReason(raw string, i int) PathReason {
	c := raw[i]
	switch {
	case c < 0x20 || c == 0x7f:
		return ReasonControl
	case c == ';':
		return ReasonSemicolon
	case c == '\\':
		return ReasonBackslash
	case c == '#' || c == '?':
		return ReasonEncodedSeparator
	case c >= 0x80:
		return utf8Reason(raw[i:], func(s string, j int) (byte, int, bool) {
			if j >= len(s) {
				return 0, 0, false
			}
			return s[j], 1, true
		})
	}
	return ReasonDisallowedChar
}

// escapedUTF8 judges a run of escapes at the start of s whose first byte is
// ≥ 0x80.
func escapedUTF8(s string) PathReason {
	return utf8Reason(s, func(s string, j int) (byte, int, bool) {
		if j >= len(s) || s[j] != '%' {
			return 0, 0, false
		}
		d, ok := unhex2(s, j)
		return d, 3, ok
	})
}

// utf8Reason reads up to four bytes with next (raw bytes or escapes) and
// says whether they form an overlong, an invalid or a valid non-ASCII
// UTF-8 sequence.
func utf8Reason(s string, next func(string, int) (byte, int, bool)) PathReason {
	var buf [utf8.UTFMax]byte
	n, j := 0, 0
	for n < len(buf) {
		b, w, ok := next(s, j)
		if !ok || (n > 0 && b&0xC0 != 0x80) {
			break
		}
		buf[n] = b
		n++
		j += w
	}
	seq := buf[:n]
	if overlong(seq) {
		return ReasonOverlongUTF8
	}
	if r, size := utf8.DecodeRune(seq); r == utf8.RuneError && size <= 1 {
		return ReasonInvalidUTF8
	}
	return ReasonNonASCII
}

// overlong reports an overlong UTF-8 encoding: C0/C1 leads, E0 followed by
// less than A0, F0 followed by less than 90.
func overlong(seq []byte) bool {
	if len(seq) == 0 {
		return false
	}
	switch seq[0] {
	case 0xC0, 0xC1:
		return true
	case 0xE0:
		return len(seq) > 1 && seq[1] < 0xA0
	case 0xF0:
		return len(seq) > 1 && seq[1] < 0x90
	}
	return false
}

// unhex2 decodes the escape "%XY" at s[i].
func unhex2(s string, i int) (byte, bool) {
	if i+2 >= len(s) {
		return 0, false
	}
	h, ok1 := unhex(s[i+1])
	l, ok2 := unhex(s[i+2])
	return h<<4 | l, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
