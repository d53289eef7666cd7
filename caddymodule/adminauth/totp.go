package adminauth

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // RFC 6238's default, what authenticator apps implement; HMAC-SHA1 is not broken as a PRF.
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters (RFC 6238 defaults, the ones every authenticator app
// supports): HMAC-SHA1, 30-second steps, 6 digits, one step of clock skew
// either way.
const (
	totpPeriod = 30
	totpDigits = 6
	totpSkew   = 1
	// totpSecretLen is 160 bits, RFC 4226's recommended secret length.
	totpSecretLen = 20
)

// The TOTP algorithm is small enough to own: a library (pquerna/otp) would
// not say which time step a code matched, and that step is what rejects a
// code replayed inside its window.

// hotp is RFC 4226's HOTP value for counter, as a zero-padded decimal.
func hotp(secret []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, code%mod)
}

// totpStep is the RFC 6238 time step of t.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// TOTPCode returns the code for secret at time t (for tests and tools).
func TOTPCode(secret []byte, t time.Time) string {
	return hotp(secret, uint64(totpStep(t)), totpDigits)
}

// matchTOTP returns the time step whose code equals code, trying the
// current step and totpSkew steps either side, and ok false when none
// does. Every candidate is computed and compared in constant time.
func matchTOTP(secret []byte, code string, now time.Time) (step int64, ok bool) {
	code = strings.TrimSpace(code)
	if len(code) != totpDigits {
		return 0, false
	}
	cur := totpStep(now)
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		s := cur + d
		if s < 0 {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(hotp(secret, uint64(s), totpDigits)), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// newTOTPSecret returns a fresh random secret.
func newTOTPSecret() []byte {
	return mustRandom(totpSecretLen)
}

// totpSecretText is the secret as authenticator apps take it by hand:
// base32 without padding.
func totpSecretText(secret []byte) string { return b32.EncodeToString(secret) }

// totpURI is the otpauth:// URI a QR code carries (Google Authenticator's
// key URI format).
func totpURI(issuer, account string, secret []byte) string {
	label := url.PathEscape(issuer + ":" + account)
	v := url.Values{}
	v.Set("secret", totpSecretText(secret))
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", fmt.Sprint(totpDigits))
	v.Set("period", fmt.Sprint(totpPeriod))
	return "otpauth://totp/" + label + "?" + v.Encode()
}
