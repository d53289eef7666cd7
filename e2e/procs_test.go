package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crgate/crgate/examples/registry-sim/sim"
)

// logBuffer collects a process's output for assertions and failure reports.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor polls cond every 10ms until it holds or the bounded wait ends.
// It waits for an eventual state (a process to be ready, a log line to
// appear); what a test asserts happens after.
func waitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var (
	portsMu sync.Mutex
	portsBy = map[int]bool{}
)

// freePort finds a loopback port no other test of this run was given.
func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsBy[port] {
			portsBy[port] = true
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// process is a started child process, stopped at test cleanup.
type process struct {
	cmd  *exec.Cmd
	logs *logBuffer
	done chan struct{}
	err  error
}

func startProcess(t testing.TB, env []string, name string, args ...string) *process {
	t.Helper()
	p := &process{logs: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Dir = repoRoot
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), p.logs.String())
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// simulator is a running registry simulator.
type simulator struct {
	*process
	addr    string // the registry surface
	control string // the control API base URL
}

func startSim(t testing.TB) *simulator {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "sim-addr.json")
	p := startProcess(t, nil, simBin, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--addr-file", addrFile)
	var addrs struct{ Listen, Control string }
	waitFor(t, "the simulator's address file", 20*time.Second, func() bool {
		if p.exited() {
			t.Fatalf("simulator exited: %v\n%s", p.err, p.logs)
		}
		data, err := os.ReadFile(addrFile)
		return err == nil && json.Unmarshal(data, &addrs) == nil && addrs.Listen != ""
	})
	return &simulator{process: p, addr: addrs.Listen, control: "http://" + addrs.Control}
}

// records returns every request that reached the simulator.
func (s *simulator) records(t testing.TB) []sim.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := sim.Records(ctx, s.control)
	if err != nil {
		t.Fatalf("reading simulator records: %v", err)
	}
	return recs
}

// gateway is a running crgate.
type gateway struct {
	*process
	port      int
	adminPort int
	certs     string // this gateway's certificate directory
	clients   string // its clients file
	sim       *simulator
}

type gatewayOptions struct {
	caddyfile string            // default: the repository's Caddyfile
	clients   []byte            // default: the fixture's clients file
	env       map[string]string // extra environment
}

// gatewayEnv prepares a certificate directory for a gateway: the
// fixture's CA, server certificate and CRL, and its own clients file (so a
// test may edit it).
func gatewayEnv(t testing.TB, opts gatewayOptions, upstream string) (env []string, g *gateway) {
	t.Helper()
	g = &gateway{port: freePort(t), adminPort: freePort(t), certs: t.TempDir()}
	for _, name := range []string{"ca.crt", "ca.crl", "server.crt", "server.key"} {
		data, err := os.ReadFile(filepath.Join(fixtures.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(g.certs, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	clients := opts.clients
	if clients == nil {
		clients = fixtures.clients
	}
	g.clients = filepath.Join(g.certs, "clients.json")
	if err := os.WriteFile(g.clients, clients, 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"CRGATE_CERTS":           g.certs,
		"CRGATE_REGISTRY_PORT":   fmt.Sprint(g.port),
		"CRGATE_ADMIN_PORT":      fmt.Sprint(g.adminPort),
		"CRGATE_UPSTREAM":        upstream,
		"CRGATE_RELOAD_INTERVAL": "100ms",
		"CRGATE_AUDIT_DIR":       filepath.Join(g.certs, "audit"),
	}
	for k, v := range opts.env {
		vars[k] = v
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env, g
}

func caddyfileArg(opts gatewayOptions) string {
	if opts.caddyfile != "" {
		return opts.caddyfile
	}
	return filepath.Join(repoRoot, "Caddyfile")
}

// startGateway starts a simulator and a crgate in front of it and waits
// until a registered node gets an answer.
func startGateway(t testing.TB, opts gatewayOptions) *gateway {
	t.Helper()
	s := startSim(t)
	env, g := gatewayEnv(t, opts, s.addr)
	g.sim = s
	g.process = startProcess(t, env, crgateBin, "run", "--config", caddyfileArg(opts), "--adapter", "caddyfile")
	waitFor(t, "crgate to serve", 30*time.Second, func() bool {
		if g.exited() {
			t.Fatalf("crgate exited: %v\n%s", g.err, g.logs)
		}
		conn, err := tls.Dial("tcp", g.addr(), g.tlsConfig(t, "alpha"))
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
	return g
}

// runGatewayToExit starts crgate with a config expected to be refused
// (after deleting the named files from its certificate directory) and
// returns its output once it exits.
func runGatewayToExit(t testing.TB, opts gatewayOptions, remove ...string) (string, error) {
	t.Helper()
	env, g := gatewayEnv(t, opts, "127.0.0.1:1")
	for _, name := range remove {
		if err := os.Remove(filepath.Join(g.certs, name)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, crgateBin, "run", "--config", caddyfileArg(opts), "--adapter", "caddyfile")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("crgate did not exit within 30s; it started with a config it should refuse:\n%s", out)
	}
	return string(out), err
}

func (g *gateway) addr() string { return fmt.Sprintf("127.0.0.1:%d", g.port) }

// url is an https URL on the gateway under the name its certificate has.
func (g *gateway) url(path string) string {
	return fmt.Sprintf("https://localhost:%d%s", g.port, path)
}

// logged reports whether the gateway's output contains every substring
// on one line.
func (g *gateway) logged(parts ...string) bool {
	for _, line := range strings.Split(g.logs.String(), "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// metrics returns the text of the gateway's metrics endpoint.
func (g *gateway) metrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", g.adminPort))
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: status %d, err %v", resp.StatusCode, err)
	}
	return string(body)
}

// fatalMessage returns the message of the last error-level log line in a
// crgate's output (Caddy logs JSON), or the whole output if there is none.
func fatalMessage(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var entry struct{ Level, Msg string }
		if json.Unmarshal([]byte(lines[i]), &entry) == nil && entry.Level == "error" {
			return entry.Msg
		}
	}
	return out
}
