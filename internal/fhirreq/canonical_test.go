package fhirreq

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name, in, want string
		reason         PathReason
	}{
		{"ok/root", "/", "/", ""},
		{"ok/search", "/fhir/Patient", "/fhir/Patient", ""},
		{"ok/read", "/fhir/Patient/p-0001", "/fhir/Patient/p-0001", ""},
		{"ok/operation", "/fhir/Patient/$ihe-pix", "/fhir/Patient/$ihe-pix", ""},
		{"ok/encoded-dollar", "/fhir/Patient/%24ihe-pix", "/fhir/Patient/$ihe-pix", ""},
		{"ok/encoded-letter", "/fhir/%50atient", "/fhir/Patient", ""},
		{"ok/lowercase-hex", "/fhir/Patient/%7e", "/fhir/Patient/~", ""},
		{"ok/dots-inside-segment", "/fhir/Patient/a..b", "/fhir/Patient/a..b", ""},
		{"ok/history", "/fhir/Patient/1/_history/2", "/fhir/Patient/1/_history/2", ""},
		{"fail/empty", "", "", ReasonNotOriginForm},
		{"fail/asterisk", "*", "", ReasonNotOriginForm},
		{"fail/absolute", "http://x/fhir/Patient", "", ReasonNotOriginForm},
		{"fail/too-long", "/" + strings.Repeat("a", MaxPathLen), "", ReasonTooLong},
		{"fail/jsessionid", "/home;jsessionid=x", "", ReasonSemicolon},
		{"fail/dotdot-semicolon", "/fhir/..;/home", "", ReasonSemicolon},
		{"fail/semicolon-in-segment", "/fhir/Patient;x/1", "", ReasonSemicolon},
		{"fail/encoded-semicolon", "/fhir/Patient%3bx", "", ReasonSemicolon},
		{"fail/backslash", "/fhir\\..\\home", "", ReasonBackslash},
		{"fail/encoded-backslash", "/fhir%5c..%5chome", "", ReasonBackslash},
		{"fail/encoded-slash", "/fhir%2fPatient", "", ReasonEncodedSeparator},
		{"fail/encoded-slash-upper", "/fhir%2FPatient", "", ReasonEncodedSeparator},
		{"fail/encoded-question", "/fhir/Patient%3f", "", ReasonEncodedSeparator},
		{"fail/encoded-hash", "/fhir/Patient%23x", "", ReasonEncodedSeparator},
		{"fail/raw-hash", "/fhir/Patient#x", "", ReasonEncodedSeparator},
		{"fail/encoded-dot", "/fhir/%2e%2e/home", "", ReasonEncodedDot},
		{"fail/encoded-dot-in-id", "/fhir/Patient/a%2Eb", "", ReasonEncodedDot},
		{"fail/double-encoding", "/fhir/%252e%252e/home", "", ReasonDoubleEncoding},
		{"fail/bad-escape", "/fhir/%zz", "", ReasonBadEscape},
		{"fail/truncated-escape", "/fhir/%2", "", ReasonBadEscape},
		{"fail/lone-percent", "/fhir/%", "", ReasonBadEscape},
		{"fail/dotdot", "/fhir/../home", "", ReasonDotSegment},
		{"fail/dot", "/fhir/./Patient", "", ReasonDotSegment},
		{"fail/trailing-dotdot", "/fhir/..", "", ReasonDotSegment},
		{"fail/leading-dot", "/./fhir", "", ReasonDotSegment},
		{"fail/double-slash", "//fhir/Patient", "", ReasonEmptySegment},
		{"fail/inner-double-slash", "/fhir//Patient", "", ReasonEmptySegment},
		{"fail/trailing-slash", "/fhir/Patient/", "", ReasonTrailingSlash},
		{"fail/base-trailing-slash", "/fhir/", "", ReasonTrailingSlash},
		{"fail/nul-encoded", "/fhir/Patient%00.json", "", ReasonControl},
		{"fail/nul-raw", "/fhir/Patient\x00", "", ReasonControl},
		{"fail/tab", "/fhir/\tPatient", "", ReasonControl},
		{"fail/del", "/fhir/Patient%7f", "", ReasonControl},
		{"fail/overlong-dot-2", "/fhir/%c0%ae%c0%ae/home", "", ReasonOverlongUTF8},
		{"fail/overlong-slash", "/fhir/..%c0%afhome", "", ReasonOverlongUTF8},
		{"fail/overlong-dot-3", "/fhir/%e0%80%ae%e0%80%ae/home", "", ReasonOverlongUTF8},
		{"fail/overlong-4", "/fhir/%f0%80%80%ae", "", ReasonOverlongUTF8},
		{"fail/overlong-raw", "/fhir/\xc0\xae\xc0\xae/home", "", ReasonOverlongUTF8},
		{"fail/invalid-utf8", "/fhir/%ff", "", ReasonInvalidUTF8},
		{"fail/invalid-continuation", "/fhir/%80", "", ReasonInvalidUTF8},
		{"fail/truncated-utf8", "/fhir/%e2%80", "", ReasonInvalidUTF8},
		{"fail/non-ascii-encoded", "/fhir/Pati%C3%A9nt", "", ReasonNonASCII},
		{"fail/non-ascii-raw", "/fhir/Patiént", "", ReasonNonASCII},
		{"fail/fullwidth-dot", "/fhir/%EF%BC%8E%EF%BC%8E/home", "", ReasonNonASCII},
		{"fail/plus", "/fhir/Patient+1", "", ReasonDisallowedChar},
		{"fail/space-encoded", "/fhir/Patient%201", "", ReasonDisallowedChar},
		{"fail/star", "/*", "", ReasonDisallowedChar},
		{"fail/comma", "/patients,other/_search", "", ReasonDisallowedChar},
		{"fail/colon", "/fhir/Patient:1", "", ReasonDisallowedChar},
		{"fail/at", "/fhir/@x", "", ReasonDisallowedChar},
		{"fail/quote", "/fhir/\"x", "", ReasonDisallowedChar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize(tt.in)
			if tt.reason == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Canonicalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			var pe *PathError
			if !errors.As(err, &pe) || pe.Reason != tt.reason {
				t.Fatalf("Canonicalize(%q) = %q, %v; want refusal %s", tt.in, got, err, tt.reason)
			}
		})
	}
}

func TestSplitTarget(t *testing.T) {
	tests := []struct {
		name, in, path, query string
		ok                    bool
	}{
		{"ok/path", "/fhir/Patient", "/fhir/Patient", "", true},
		{"ok/query", "/fhir/Patient?name=a&x=%3F", "/fhir/Patient", "name=a&x=%3F", true},
		{"ok/question-in-query", "/fhir?a=?", "/fhir", "a=?", true},
		{"fail/absolute", "https://localhost/fhir", "", "", false},
		{"fail/asterisk", "*", "", "", false},
		{"fail/empty", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, q, err := SplitTarget(tt.in)
			if (err == nil) != tt.ok || p != tt.path || q != tt.query {
				t.Fatalf("SplitTarget(%q) = %q, %q, %v", tt.in, p, q, err)
			}
		})
	}
}

// TestCanonicalizeAgreesWithURLDecoding: for every accepted path, Go's own
// decoder reads the raw path the same way, and finds nothing to decode in
// the result.
func TestCanonicalizeAgreesWithURLDecoding(t *testing.T) {
	for _, raw := range []string{"/fhir/%50atient/%24match", "/fhir/Patient/p-0001", "/a~b/$c_d"} {
		got, err := Canonicalize(raw)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := url.PathUnescape(raw)
		if err != nil || dec != got {
			t.Errorf("Canonicalize(%q) = %q, url.PathUnescape = %q, %v", raw, got, dec, err)
		}
		if again, _ := url.PathUnescape(got); again != got {
			t.Errorf("a second decode changes %q to %q", got, again)
		}
	}
}
