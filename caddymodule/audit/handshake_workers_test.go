package audit

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"
)

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// goodClient handshakes a registered-looking client with ln and returns
// the server's side of the connection from Accept.
func goodClient(t *testing.T, ln net.Listener, cfg *tls.Config) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cfg)
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	defer conn.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the client's connection was not accepted")
	}
}

func clientConfig(t *testing.T, ca *testCA) *tls.Config {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	cert := ca.issue(t, "alpha", x509.ExtKeyUsageClientAuth, time.Now().Add(time.Hour))
	return &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{cert}}
}

// TestHandshakeWorkersReused: handshakes one after another run on one
// worker goroutine, not one new goroutine each.
func TestHandshakeWorkersReused(t *testing.T) {
	ca := newTestCA(t, "test CA")
	ln, _ := handshakeServer(t, ca)
	l := ln.(*handshakeListener)
	cfg := clientConfig(t, ca)
	for i := range 5 {
		goodClient(t, ln, cfg)
		waitFor(t, "the worker to wait for the next connection", func() bool { return l.idleWorkers.Load() == 1 })
		if n := l.workersStarted.Load(); n != 1 {
			t.Fatalf("after %d handshakes one after another, %d workers were started, want 1", i+1, n)
		}
	}
}

// TestHandshakeWorkersStalledClient: a client that never sends its
// ClientHello keeps its worker; the next client gets a new one and is
// served at once.
func TestHandshakeWorkersStalledClient(t *testing.T) {
	ca := newTestCA(t, "test CA")
	ln, _ := handshakeServer(t, ca)
	l := ln.(*handshakeListener)
	cfg := clientConfig(t, ca)
	goodClient(t, ln, cfg)
	waitFor(t, "an idle worker", func() bool { return l.idleWorkers.Load() == 1 })

	stalled, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	waitFor(t, "the idle worker to take the stalled client", func() bool { return l.idleWorkers.Load() == 0 })
	goodClient(t, ln, cfg)
	if n := l.workersStarted.Load(); n != 2 {
		t.Fatalf("%d workers started, want 2 (one held by the stalled client)", n)
	}
}

// TestHandshakeWorkersIdleBound: after a burst of more clients than
// maxIdleHandshakeWorkers, only that many workers stay waiting, and
// closing the listener ends them.
func TestHandshakeWorkersIdleBound(t *testing.T) {
	ca := newTestCA(t, "test CA")
	ln, _ := handshakeServer(t, ca)
	l := ln.(*handshakeListener)
	const burst = maxIdleHandshakeWorkers + 6
	conns := make([]net.Conn, 0, burst)
	for range burst {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitFor(t, "a worker per stalled client", func() bool { return l.workersStarted.Load() == burst })
	for _, c := range conns {
		c.Close() // each handshake ends: client_aborted
	}
	waitFor(t, "the burst's handshakes to end", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.pending) == 0
	})
	waitFor(t, "the workers to settle", func() bool { return l.idleWorkers.Load() == maxIdleHandshakeWorkers })
	time.Sleep(20 * time.Millisecond)
	if n := l.idleWorkers.Load(); n != maxIdleHandshakeWorkers {
		t.Fatalf("%d idle workers after the burst, want %d", n, maxIdleHandshakeWorkers)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idle workers to end after Close", func() bool { return l.idleWorkers.Load() == 0 })
}
