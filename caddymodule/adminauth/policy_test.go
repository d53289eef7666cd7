package adminauth

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckPassword(t *testing.T) {
	const email = "ann.smith@clinic-north.org"
	for _, tc := range []struct {
		name, pw string
		// want is a substring every refusal must show ("" = accepted).
		want string
	}{
		{"ok/four-random-words", "cobalt tractor mango quiet", ""},
		{"ok/random-chars", "x7#Lp2!qVz9m", ""},
		{"ok/long-phrase", "my horse eats purple gravel on sundays", ""},
		{"ok/exactly-72-bytes", strings.Repeat("aB3$", 18), ""},
		{"fail/too-short", "Xq7#pL2!", "at least 10 characters"},
		{"fail/too-long", strings.Repeat("Zx9#", 19), "at most 72 bytes"},
		{"fail/multibyte-too-long", strings.Repeat("é", 37), "at most 72 bytes"},
		{"fail/contains-email", "ann.smith@clinic-north.org!", "email address"},
		{"fail/contains-local-part", "xx-ann.smith-xx-99", "\"ann.smith\""},
		{"fail/contains-name-part", "Smith2024Password", "\"smith\""},
		{"fail/contains-domain-word", "clinic!!Zebra77", "\"clinic\""},
		{"fail/common-password", "password123", "harder to guess"},
		{"fail/common-password-common-words", "password123", "common words"},
		{"fail/repeated", "aaaaaaaaaaaa", "harder to guess"},
		{"fail/keyboard", "zxcvbnm,./", "keyboard"},
		{"fail/sequence", "abcdefghij", "harder to guess"},
		{"fail/control-char", "tab\there-xyz-long", "control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPassword(tc.pw, email, 0)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("accepted %q (err %v), want refusal mentioning %q", tc.pw, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("refusal %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestEmailParts(t *testing.T) {
	got := strings.Join(emailParts("Ann.Smith@Clinic-North.org"), ",")
	want := "ann.smith@clinic-north.org,ann.smith,clinic-north.org,ann,smith,clinic,north,org"
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
