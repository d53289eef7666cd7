// Package testpeer starts the real peers crgate's audit sinks are tested
// against, on loopback, for the duration of one test: rsyslog from Debian
// (RFC 5425 TLS syslog receiver) and a FHIR R4 server (medplum's FHIR
// router, tools/fhir-server). It also makes the certificates they use and
// realistic AuditEvents. Imported by tests only.
//
// A peer that is not installed skips the test locally, with a message that
// says how to install it; with CI=true it fails the test instead, so a CI
// run can never pass by not testing.
package testpeer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/crgate/crgate/internal/deadletter"
)

// missing skips (locally) or fails (CI=true) a test whose peer is absent.
func missing(t testing.TB, what, install string) {
	t.Helper()
	msg := fmt.Sprintf("%s is not installed: %s", what, install)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: the real peer is required, the test may not skip)", msg)
	}
	t.Skip(msg)
}

// RepoRoot is the directory holding crgate's go.mod, found from the
// working directory (a test runs in its package's directory).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/crgate/crgate\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testpeer: crgate's go.mod not found above the working directory")
		}
		dir = parent
	}
}

// lineWatcher collects a process's output lines and lets a test wait for
// one with a given prefix.
type lineWatcher struct {
	mu    sync.Mutex
	lines []string
	cond  *sync.Cond
	done  bool
}

func newLineWatcher(r io.Reader) *lineWatcher {
	w := &lineWatcher{}
	w.cond = sync.NewCond(&w.mu)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.cond.Broadcast()
			w.mu.Unlock()
		}
		w.mu.Lock()
		w.done = true
		w.cond.Broadcast()
		w.mu.Unlock()
	}()
	return w
}

// wait returns the first line at or after index from with prefix, and the
// index after it.
func (w *lineWatcher) wait(from int, prefix string, limit time.Duration) (string, int, error) {
	timer := time.AfterFunc(limit, func() {
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(limit)
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for i := from; i < len(w.lines); i++ {
			if strings.HasPrefix(w.lines[i], prefix) {
				return w.lines[i], i + 1, nil
			}
		}
		from = len(w.lines)
		if w.done {
			return "", from, errors.New("the process's output ended")
		}
		if time.Now().After(deadline) {
			return "", from, fmt.Errorf("no %q line within %s", prefix, limit)
		}
		w.cond.Wait()
	}
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// WaitFor polls cond until it holds or limit passes.
func WaitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe to write from a process's output
// copier while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Module is a Caddy module with the full lifecycle, as the sinks are.
type Module interface {
	caddy.Provisioner
	caddy.Validator
	caddy.CleanerUpper
}

// Provision provisions and validates m as Caddy would, and cleans it up
// when the test ends.
func Provision(t testing.TB, m Module) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := m.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	t.Cleanup(func() { _ = m.Cleanup() })
}

// DeadLetters reads a dead-letter file (none yet: no entries).
func DeadLetters(t testing.TB, path string) []deadletter.Entry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	var out []deadletter.Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var e deadletter.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("dead-letter line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// Unmarshal runs one Caddyfile table case: u (a fresh module) reads input;
// then either its JSON equals want's, or, with errSub set, the error
// contains errSub.
func Unmarshal(t testing.TB, u caddyfile.Unmarshaler, input string, want any, errSub string) {
	t.Helper()
	err := u.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	if errSub != "" {
		if err == nil || !strings.Contains(err.Error(), errSub) {
			t.Fatalf("error = %v, want %q", err, errSub)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(u)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Fatalf("got %s\nwant %s", got, exp)
	}
}
