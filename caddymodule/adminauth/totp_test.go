package adminauth

import (
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1 rows (8 digits, secret "12345678901234567890").
func TestHOTPRFC6238Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		got := hotp(secret, uint64(tc.unix/30), 8)
		if got != tc.want {
			t.Errorf("T=%d: got %s, want %s", tc.unix, got, tc.want)
		}
		// The 6-digit code is the last six digits of the 8-digit one.
		if six := TOTPCode(secret, time.Unix(tc.unix, 0)); six != tc.want[2:] {
			t.Errorf("T=%d: 6-digit code %s, want %s", tc.unix, six, tc.want[2:])
		}
	}
}

func TestMatchTOTPWindow(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	cur := totpStep(now)
	for _, tc := range []struct {
		name string
		code string
		step int64
		ok   bool
	}{
		{"ok/current", hotp(secret, uint64(cur), 6), cur, true},
		{"ok/previous-step", hotp(secret, uint64(cur-1), 6), cur - 1, true},
		{"ok/next-step", hotp(secret, uint64(cur+1), 6), cur + 1, true},
		{"ok/spaces-trimmed", " " + hotp(secret, uint64(cur), 6) + " ", cur, true},
		{"fail/two-steps-old", hotp(secret, uint64(cur-2), 6), 0, false},
		{"fail/two-steps-ahead", hotp(secret, uint64(cur+2), 6), 0, false},
		{"fail/empty", "", 0, false},
		{"fail/five-digits", hotp(secret, uint64(cur), 6)[1:], 0, false},
		{"fail/eight-digit-form", hotp(secret, uint64(cur), 8), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, ok := matchTOTP(secret, tc.code, now)
			if ok != tc.ok || (ok && step != tc.step) {
				t.Fatalf("matchTOTP(%q) = %d, %v; want %d, %v", tc.code, step, ok, tc.step, tc.ok)
			}
		})
	}
}

func TestTOTPURI(t *testing.T) {
	got := totpURI("crgate", "ann@example.org", []byte("12345678901234567890"))
	want := "otpauth://totp/crgate:ann@example.org?algorithm=SHA1&digits=6&issuer=crgate&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}
