package adminauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// DefaultBcryptCost is the bcrypt cost for new password hashes. On the
// project's reference machine (2-core AMD EPYC) a verification at cost 11
// takes about 125 ms (BenchmarkVerifyPassword), inside the 50–250 ms the
// design asks for: slow for an offline guesser, quick enough for a person.
const DefaultBcryptCost = 11

// minPepperLen is the shortest pepper accepted: 32 bytes of key material.
const minPepperLen = 32

// Secrets are the server-side keys that never enter the store: the pepper
// mixed into every password hash and the key that seals TOTP secrets. A
// copy of the store alone yields neither passwords nor TOTP secrets.
type Secrets struct {
	pepper     []byte
	aead       cipher.AEAD
	csrfKey    []byte
	bcryptCost int
}

// SecretSource names where a secret comes from: a file (trailing newline
// ignored) or an environment variable; exactly one.
type SecretSource struct {
	File string `json:"file,omitempty"`
	Env  string `json:"env,omitempty"`
}

func (s SecretSource) read(what string) ([]byte, error) {
	switch {
	case s.File != "" && s.Env != "":
		return nil, fmt.Errorf("%s: give a file or an environment variable, not both", what)
	case s.File != "":
		data, err := os.ReadFile(s.File)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return []byte(strings.TrimRight(string(data), "\r\n")), nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return nil, fmt.Errorf("%s: environment variable %s is not set", what, s.Env)
		}
		return []byte(v), nil
	default:
		return nil, fmt.Errorf("%s: required (a file or an environment variable)", what)
	}
}

// LoadSecrets reads the pepper and the TOTP key. The TOTP key must be 32
// bytes written as 64 hex digits or as base64; the pepper at least 32
// bytes of any text (e.g. `head -c 32 /dev/urandom | base64`).
func LoadSecrets(pepper, totpKey SecretSource, bcryptCost int) (*Secrets, error) {
	p, err := pepper.read("pepper")
	if err != nil {
		return nil, err
	}
	if len(p) < minPepperLen {
		return nil, fmt.Errorf("pepper: %d bytes, want at least %d", len(p), minPepperLen)
	}
	raw, err := totpKey.read("totp_key")
	if err != nil {
		return nil, err
	}
	key, err := decodeKey(string(raw))
	if err != nil {
		return nil, fmt.Errorf("totp_key: %w", err)
	}
	return NewSecrets(p, key, bcryptCost)
}

// NewSecrets builds Secrets from raw key material.
func NewSecrets(pepper, totpKey []byte, bcryptCost int) (*Secrets, error) {
	if len(totpKey) != 32 {
		return nil, fmt.Errorf("totp_key: %d bytes, want 32 (AES-256)", len(totpKey))
	}
	if bcryptCost == 0 {
		bcryptCost = DefaultBcryptCost
	}
	if bcryptCost < 10 || bcryptCost > 16 {
		return nil, fmt.Errorf("bcrypt_cost: %d outside 10..16", bcryptCost)
	}
	block, err := aes.NewCipher(totpKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte("crgate admin_login csrf v1"))
	return &Secrets{pepper: append([]byte(nil), pepper...), aead: aead, csrfKey: m.Sum(nil), bcryptCost: bcryptCost}, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 64 {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, errors.New("want 32 bytes as 64 hex digits or base64 (e.g. `head -c 32 /dev/urandom | base64`)")
}

// peppered is what bcrypt sees: HMAC-SHA256(pepper, password), base64. The
// pepper is not appended to the password because bcrypt ignores bytes past
// 72 (a long password would push the pepper out) and stops at NUL bytes;
// the fixed-length HMAC has neither problem.
func (s *Secrets) peppered(password string) []byte {
	m := hmac.New(sha256.New, s.pepper)
	m.Write([]byte(password))
	out := make([]byte, base64.StdEncoding.EncodedLen(sha256.Size))
	base64.StdEncoding.Encode(out, m.Sum(nil))
	return out
}

// HashPassword returns the bcrypt hash of the peppered password.
func (s *Secrets) HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(s.peppered(password), s.bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when the account is unknown or has no
// password, so such a login costs what a real one does.
var (
	dummyMu   sync.Mutex
	dummyHash = map[int][]byte{}
)

// VerifyPassword reports whether password matches hash. An empty hash (no
// password set) still costs one bcrypt comparison and never matches.
func (s *Secrets) VerifyPassword(hash, password string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(s.dummy(), s.peppered(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), s.peppered(password)) == nil
}

func (s *Secrets) dummy() []byte {
	dummyMu.Lock()
	defer dummyMu.Unlock()
	h, ok := dummyHash[s.bcryptCost]
	if !ok {
		h, _ = bcrypt.GenerateFromPassword([]byte("crgate dummy password"), s.bcryptCost)
		dummyHash[s.bcryptCost] = h
	}
	return h
}

// sealTOTP encrypts a TOTP secret with AES-256-GCM; the account (email and
// role) is the additional data, so a sealed secret copied to another row
// does not open.
func (s *Secrets) sealTOTP(k AccountKey, secret []byte) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	ct := s.aead.Seal(nonce, nonce, secret, k.aad())
	return "v1:" + base64.RawStdEncoding.EncodeToString(ct), nil
}

func (s *Secrets) openTOTP(k AccountKey, sealed string) ([]byte, error) {
	b64, ok := strings.CutPrefix(sealed, "v1:")
	if !ok {
		return nil, errors.New("sealed TOTP secret: unknown format")
	}
	ct, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(ct) < s.aead.NonceSize() {
		return nil, errors.New("sealed TOTP secret: malformed")
	}
	pt, err := s.aead.Open(nil, ct[:s.aead.NonceSize()], ct[s.aead.NonceSize():], k.aad())
	if err != nil {
		return nil, errors.New("sealed TOTP secret: does not open with this key (wrong totp_key or tampered row)")
	}
	return pt, nil
}

func (k AccountKey) aad() []byte {
	return []byte("crgate totp v1\x00" + k.Email + "\x00" + string(k.Role))
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string { return base64.RawURLEncoding.EncodeToString(mustRandom(n)) }

// mustRandom returns n random bytes. Since Go 1.24 crypto/rand.Read never
// returns an error: it crashes the program rather than hand out
// predictable bytes.
func mustRandom(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// tokenHash is how session ids and enrolment tokens are stored: a leaked
// store row cannot be replayed as a cookie or a link.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
