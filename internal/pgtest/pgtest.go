// Package pgtest starts a throwaway PostgreSQL server for tests: initdb
// and pg_ctl from Debian's postgresql package, run as an unprivileged user
// (PostgreSQL refuses to run as root), in a temporary directory, listening
// on a loopback port only.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the driver the tests' DSNs use
)

// Server is a running PostgreSQL.
type Server struct {
	root string // removed at Stop
	dir  string // the data directory
	port int
	bin  string
	as   []string // command prefix to run as the unprivileged user
}

var (
	mu      sync.Mutex
	shared  *Server
	started error
	dbSeq   atomic.Int64
)

// binDir finds initdb: on PATH, else Debian's /usr/lib/postgresql/<v>/bin.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(r), nil
		}
		return filepath.Dir(p), nil
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(m) > 0 {
		return filepath.Dir(m[len(m)-1]), nil
	}
	return "", fmt.Errorf("initdb not found (install Debian's postgresql package: make test-deps)")
}

// DSN returns a fresh, empty database on the shared server, creating the
// server on first use. Without PostgreSQL installed the test is skipped,
// or fails when CI=true (CI must test both stores).
func DSN(t testing.TB) string {
	t.Helper()
	mu.Lock()
	if shared == nil && started == nil {
		shared, started = start()
	}
	s, err := shared, started
	mu.Unlock()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skipf("PostgreSQL unavailable (CI would fail here): %v", err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	db, err := sql.Open("pgx", s.dsn("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database: %v", err)
	}
	return s.dsn(name)
}

func (s *Server) dsn(db string) string {
	return fmt.Sprintf("postgres://crgate@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// Stop stops the shared server, if one was started (call from TestMain).
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		_ = shared.run("pg_ctl", "-D", shared.dir, "-m", "immediate", "-w", "stop")
		os.RemoveAll(shared.root)
		shared = nil
	}
}

func (s *Server) run(name string, args ...string) error {
	full := append(append(append([]string{}, s.as...), filepath.Join(s.bin, name)), args...)
	cmd := exec.Command(full[0], full[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", name, err, out)
	}
	return nil
}

func start() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "crgate-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{root: dir, dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and no postgres user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.as = []string{"runuser", "-u", "postgres", "--"}
	}
	data := filepath.Join(dir, "data")
	if err := s.run("initdb", "-D", data, "-A", "trust", "-U", "crgate", "--no-sync", "-E", "UTF8"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.dir = data
	for range 5 {
		s.port, err = freePort()
		if err != nil {
			break
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100", s.port, dir)
		if err = s.run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start"); err == nil {
			return s, nil
		}
	}
	os.RemoveAll(dir)
	return nil, err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
