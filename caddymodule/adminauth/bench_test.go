package adminauth

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkVerifyPassword is the cost of one password check at the
// default bcrypt cost: what every login (and every failed one, unknown
// accounts included) spends.
func BenchmarkVerifyPassword(b *testing.B) {
	sec, err := NewSecrets([]byte("bench pepper bench pepper bench pepper"), make([]byte, 32), DefaultBcryptCost)
	if err != nil {
		b.Fatal(err)
	}
	hash, err := sec.HashPassword(testPassword)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !sec.VerifyPassword(hash, testPassword) {
			b.Fatal("no match")
		}
	}
}

// BenchmarkLogin is a whole successful login on the SQLite store at the
// default bcrypt cost: address throttle lookup, account read, bcrypt,
// TOTP check and replay guard, session creation.
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	st, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "accounts.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	sec, err := NewSecrets([]byte("bench pepper bench pepper bench pepper"), make([]byte, 32), DefaultBcryptCost)
	if err != nil {
		b.Fatal(err)
	}
	c := newClock()
	s := NewService(st, sec, Rules{})
	s.Now = c.now
	k := AccountKey{Email: "ann@example.org", Role: RoleUser}
	secret := enrolled(b, s, k)
	for b.Loop() {
		c.add(totpPeriod * time.Second) // a fresh code each time
		if _, err := s.Login(ctx, k, testPassword, TOTPCode(secret, c.t), "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}
