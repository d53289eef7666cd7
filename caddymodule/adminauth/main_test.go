package adminauth

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/crgate/crgate/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// forEachStore runs fn against a fresh SQLite store and a fresh
// PostgreSQL store: the same code path, both databases.
func forEachStore(t *testing.T, fn func(t *testing.T, st Store)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "accounts.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		st, err := OpenPostgres(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, st)
	})
}

// testSecrets are fixed test keys with bcrypt's minimum cost, so tests
// do not spend seconds hashing.
func testSecrets(t testing.TB) *Secrets {
	t.Helper()
	sec, err := NewSecrets([]byte("test pepper test pepper test pepper!"), []byte("0123456789abcdef0123456789abcdef"), 0)
	if err != nil {
		t.Fatal(err)
	}
	sec.bcryptCost = bcrypt.MinCost
	return sec
}

// fakeClock is a settable clock for Service.Now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)} }
func testService(t testing.TB, st Store, c *fakeClock) *Service {
	s := NewService(st, testSecrets(t), Rules{})
	s.Now = c.now
	return s
}
