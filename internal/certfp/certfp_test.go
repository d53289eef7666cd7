package certfp

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	want := Of([]byte("certificate"))
	colon := want.String()
	plain := strings.ReplaceAll(colon, ":", "")
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"ok/colon-upper", colon, true},
		{"ok/colon-lower", strings.ToLower(colon), true},
		{"ok/plain", plain, true},
		{"ok/sha256-prefix", "sha256:" + plain, true},
		{"ok/openssl-output", "SHA256 Fingerprint=" + colon, true},
		{"ok/surrounding-space", "  " + colon + "\n", true},
		{"fail/empty", "", false},
		{"fail/short", plain[:62], false},
		{"fail/long", plain + "00", false},
		{"fail/non-hex", "ZZ" + plain[2:], false},
		{"fail/odd-pairs", "A" + colon[2:], false},
		{"fail/sha1-length", plain[:40], false},
		{"fail/mixed-separators", colon[:30] + plain[20:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.ok {
				if err != nil {
					t.Fatalf("Parse(%q): %v", tt.in, err)
				}
				if got != want {
					t.Fatalf("Parse(%q) = %s, want %s", tt.in, got, want)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) error = %v, want ErrMalformed", tt.in, err)
			}
		})
	}
}

func TestStringRoundTrip(t *testing.T) {
	f := Of([]byte{0x00, 0xff})
	s := f.String()
	if len(s) != 95 || strings.ToUpper(s) != s {
		t.Fatalf("String() = %q: want 32 upper-case pairs with colons", s)
	}
	back, err := Parse(s)
	if err != nil || back != f {
		t.Fatalf("Parse(String()) = %v, %v", back, err)
	}
}
