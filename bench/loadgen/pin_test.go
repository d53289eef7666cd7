package loadgen

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"
)

// A pinned config verifies the server's chain (roots and name) the first
// time, then accepts exactly the same leaf bytes without verifying again.
func TestServerPin(t *testing.T) {
	p := newTestPKI(t)
	other := newTestPKI(t) // another CA, also a "localhost" server certificate
	leaf := func(c tls.Certificate) tls.ConnectionState {
		x, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return tls.ConnectionState{PeerCertificates: []*x509.Certificate{x}}
	}

	cfg := pinned(&tls.Config{RootCAs: p.pool, ServerName: "localhost"})
	if !cfg.InsecureSkipVerify || cfg.VerifyConnection == nil {
		t.Fatal("the pinned config leaves the chain to crypto/tls")
	}
	if err := cfg.VerifyConnection(leaf(other.server)); err == nil {
		t.Fatal("a server certificate of another CA was accepted")
	}
	wrongName := pinned(&tls.Config{RootCAs: p.pool, ServerName: "other.example"})
	if err := wrongName.VerifyConnection(leaf(p.server)); err == nil {
		t.Fatal("a server certificate for another name was accepted")
	}
	if err := cfg.VerifyConnection(tls.ConnectionState{}); err == nil {
		t.Fatal("a handshake without a server certificate passed")
	}

	pin := &serverPin{roots: p.pool, serverName: "localhost"}
	if err := pin.verify(leaf(p.server)); err != nil {
		t.Fatalf("the server's own certificate: %v", err)
	}
	// Once verified, the same bytes pass without a chain check (no roots
	// would verify anything now); other bytes are still checked.
	pin.roots = x509.NewCertPool()
	if err := pin.verify(leaf(p.server)); err != nil {
		t.Fatalf("the pinned certificate was verified again: %v", err)
	}
	if err := pin.verify(leaf(other.server)); err == nil {
		t.Fatal("an unpinned certificate passed without verification")
	}

	// A config that already chose how to check the server is left alone.
	own := &tls.Config{InsecureSkipVerify: true}
	if pinned(own) != own {
		t.Error("pinned replaced a config with InsecureSkipVerify set")
	}
}

// Through a real handshake per request: a server of another CA is refused
// every time (the pin never admits it), the right one always served.
func TestRunHandshakePinsTheServer(t *testing.T) {
	p := newTestPKI(t)
	other := newTestPKI(t)
	s := newTestServer(t, p)
	impostor := newTestServer(t, other)
	// The impostor asks for a certificate of its own CA; the client's is
	// not, but the client refuses the server first.
	res := run(t, Config{URL: impostor.URL + "/", Handshake: true, Concurrency: 1, Duration: time.Hour / 10, Requests: 5, TLS: p.clientTLS()})
	if res.OK != 0 || res.ErrorKinds["tls"] != 5 {
		t.Errorf("impostor server: ok %d kinds %v, want 5 × tls", res.OK, res.ErrorKinds)
	}
	res = run(t, Config{URL: s.URL + "/", Handshake: true, Concurrency: 2, Duration: time.Hour / 10, Requests: 20, TLS: p.clientTLS()})
	if res.OK != 20 {
		t.Errorf("the real server: ok %d kinds %v, want 20 ok", res.OK, res.ErrorKinds)
	}
}
