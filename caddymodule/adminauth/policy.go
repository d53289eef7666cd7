package adminauth

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/ccojocar/zxcvbn-go"
	"github.com/ccojocar/zxcvbn-go/match"
)

// Password policy bounds. 72 bytes is bcrypt's input limit (crgate hashes
// an HMAC of the password, but keeps the limit so a password never means
// more than the person thinks).
const (
	minPasswordLen = 10
	maxPasswordLen = 72
	// DefaultMinPasswordBits is the least strength a password must have:
	// zxcvbn's entropy estimate, which already charges for dictionary
	// words, common passwords, repeats, sequences, keyboard patterns,
	// dates and the person's own email words.
	DefaultMinPasswordBits = 24
)

// PolicyError says why a password was refused, in words for the person
// choosing it; Problems lists every problem found, so one attempt shows
// them all.
type PolicyError struct{ Problems []string }

func (e *PolicyError) Error() string { return "password refused: " + strings.Join(e.Problems, "; ") }

// emailParts are the pieces of an email a password must not contain: the
// local part, the domain and every alphanumeric run of 3 or more.
func emailParts(email string) []string {
	email = strings.ToLower(email)
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if len(s) >= 3 && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	add(email)
	if local, domain, ok := strings.Cut(email, "@"); ok {
		add(local)
		add(domain)
	}
	for _, f := range strings.FieldsFunc(email, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		add(f)
	}
	return out
}

// CheckPassword applies the password policy for the account with email; a
// nil error means acceptable, otherwise a *PolicyError.
func CheckPassword(password, email string, minBits float64) error {
	if minBits == 0 {
		minBits = DefaultMinPasswordBits
	}
	var problems []string
	switch n := len(password); {
	case n < minPasswordLen:
		problems = append(problems, fmt.Sprintf("use at least %d characters (this one has %d)", minPasswordLen, n))
	case n > maxPasswordLen:
		problems = append(problems, fmt.Sprintf("use at most %d bytes (this one has %d; letters outside A–Z may count as 2–4)", maxPasswordLen, n))
	}
	for _, r := range password {
		if unicode.IsControl(r) {
			problems = append(problems, "do not use control characters (tabs, line breaks)")
			break
		}
	}
	lower := strings.ToLower(password)
	var inside []string
	for _, p := range emailParts(email) {
		if strings.Contains(lower, p) {
			inside = append(inside, fmt.Sprintf("%q", p))
		}
	}
	if len(inside) > 0 {
		problems = append(problems, "do not use your email address or parts of it ("+strings.Join(inside, ", ")+")")
	}
	if len(password) <= maxPasswordLen && len(password) > 0 {
		res := zxcvbn.PasswordStrength(password, emailParts(email))
		if res.Entropy < minBits {
			problems = append(problems, weaknessHint(res.MatchSequence, res.Entropy, minBits))
		}
	}
	if len(problems) > 0 {
		return &PolicyError{Problems: problems}
	}
	return nil
}

// weaknessHint turns zxcvbn's cheapest explanation of a password into
// advice.
func weaknessHint(seq []match.Match, bits, min float64) string {
	why := map[string]bool{}
	for _, m := range seq {
		switch m.Pattern {
		case "dictionary":
			why["it is built from common words, names or well-known passwords"] = true
		case "repeat":
			why["it repeats characters or groups"] = true
		case "sequence":
			why["it contains a sequence such as abc or 123"] = true
		case "spatial":
			why["it follows a keyboard pattern such as qwerty"] = true
		case "date":
			why["it contains a date or year"] = true
		}
	}
	reasons := make([]string, 0, len(why))
	for r := range why {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	msg := fmt.Sprintf("make it harder to guess (estimated %.0f bits, at least %.0f needed)", bits, min)
	if len(reasons) > 0 {
		msg += ": " + strings.Join(reasons, ", and ")
	}
	return msg + "; a few unrelated words or a longer phrase work well"
}
