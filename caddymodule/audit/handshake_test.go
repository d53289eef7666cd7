package audit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/gate"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: []string{"localhost"}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handshakeServer is a TLS listener requiring client certificates from
// ca, refusing CN "refused" in VerifyConnection as the node registry
// verifier would, wrapped by handshake_audit.
func handshakeServer(t *testing.T, ca *testCA) (net.Listener, *spool) {
	t.Helper()
	s := testSpool(t, t.TempDir(), 64<<20)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{ca.issue(t, "localhost", x509.ExtKeyUsageServerAuth, time.Now().Add(time.Hour))},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 && cs.PeerCertificates[0].Subject.CommonName == "refused" {
				return &gate.Refusal{Module: "node_auth", Reason: "unregistered_certificate", Detail: "not in the clients file"}
			}
			return nil
		},
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ha := &HandshakeAudit{HandshakeTimeout: 300 * 1e6, app: &App{inflight: new(atomic.Int64), spool: s, logger: zap.NewNop()}, logger: zap.NewNop()}
	ln := ha.WrapListener(tls.NewListener(tcp, cfg))
	t.Cleanup(func() { ln.Close() })
	return ln, s
}

func TestHandshakeAuditRecordsFailures(t *testing.T) {
	ca := newTestCA(t, "test CA")
	other := newTestCA(t, "other CA")
	ln, s := handshakeServer(t, ca)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	client := func(cert *tls.Certificate, ver uint16) *tls.Config {
		c := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: ver, MaxVersion: ver, NextProtos: []string{"h2"}}
		if cert != nil {
			// Present it even when the server's acceptable CAs do not
			// list its issuer (crypto/tls would otherwise send none).
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		return c
	}
	good := ca.issue(t, "alpha", x509.ExtKeyUsageClientAuth, time.Now().Add(time.Hour))
	refused := ca.issue(t, "refused", x509.ExtKeyUsageClientAuth, time.Now().Add(time.Hour))
	expired := ca.issue(t, "old", x509.ExtKeyUsageClientAuth, time.Now().Add(-time.Hour))
	serverUsage := ca.issue(t, "server-as-client", x509.ExtKeyUsageServerAuth, time.Now().Add(time.Hour))
	foreign := other.issue(t, "foreign", x509.ExtKeyUsageClientAuth, time.Now().Add(time.Hour))

	// An idle client that never sends a ClientHello holds up nobody.
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), client(&good, tls.VersionTLS13))
	if err != nil {
		t.Fatalf("good client: %v", err)
	}
	defer conn.Close()
	select {
	case c := <-accepted:
		tc, ok := c.(*tls.Conn)
		if !ok {
			t.Fatalf("Accept returned %T, want *tls.Conn", c)
		}
		st := tc.ConnectionState()
		if !st.HandshakeComplete || st.NegotiatedProtocol != "h2" || len(st.PeerCertificates) != 1 {
			t.Fatalf("accepted conn: complete %v, ALPN %q, %d peer certs", st.HandshakeComplete, st.NegotiatedProtocol, len(st.PeerCertificates))
		}
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a good client was not accepted while another sat idle")
	}

	type want struct{ module, reason string }
	var wants []want
	try := func(cfg *tls.Config, w want) {
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err == nil {
			// TLS 1.3: the refusal arrives with the first read.
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, _ = c.Read(make([]byte, 1))
			c.Close()
		}
		wants = append(wants, w)
	}
	try(client(nil, tls.VersionTLS13), want{"tls", "no_client_certificate"})
	try(client(&refused, tls.VersionTLS13), want{"node_auth", "unregistered_certificate"})
	try(client(&expired, tls.VersionTLS12), want{"tls", "certificate_expired"})
	try(client(&foreign, tls.VersionTLS13), want{"tls", "unknown_ca"})
	try(client(&serverUsage, tls.VersionTLS13), want{"tls", "wrong_key_usage"})
	try(client(&good, tls.VersionTLS11), want{"tls", "protocol_version"})
	plain, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(plain, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	_, _ = io.ReadAll(plain)
	plain.Close()
	wants = append(wants, want{"tls", "not_tls"})
	wants = append(wants, want{"tls", "handshake_timeout"}) // the idle client

	got := map[string]auditrec.Record{}
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < len(wants) && time.Now().Before(deadline) {
		_ = s.flush()
		got = map[string]auditrec.Record{}
		for _, rec := range readAll(t, s, 0) {
			got[rec.RefusalModule+"/"+rec.RefusalReason] = rec
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(got) != len(wants) {
		t.Fatalf("%d distinct handshake records, want %d: %v", len(got), len(wants), keys(got))
	}
	for _, w := range wants {
		rec, ok := got[w.module+"/"+w.reason]
		if !ok {
			t.Errorf("no record %s/%s; have %v", w.module, w.reason, keys(got))
			continue
		}
		if rec.Kind != auditrec.KindHandshake || rec.ClientIP != "127.0.0.1" || rec.ClientPort == 0 || rec.ID == "" {
			t.Errorf("%s: record %+v", w.reason, rec)
		}
	}
	if r := got["node_auth/unregistered_certificate"]; r.CertSubject != "CN=refused" || r.NodeFingerprint == "" || r.TLSServerName != "localhost" {
		t.Errorf("refused node's record lacks the certificate: %+v", r)
	}
	if r := got["tls/unknown_ca"]; r.CertSubject != "CN=foreign" {
		t.Errorf("unknown CA record lacks the presented certificate: %+v", r)
	}
}

func keys(m map[string]auditrec.Record) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestHandshakeAuditCloseEndsPending closes the listener while a client
// is mid-handshake: the client is disconnected, Accept returns an error,
// and nothing is recorded for it.
func TestHandshakeAuditCloseEndsPending(t *testing.T) {
	ca := newTestCA(t, "test CA")
	ln, s := handshakeServer(t, ca)
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(50 * time.Millisecond) // let the wrapper accept it
	errc := make(chan error, 1)
	go func() { _, err := ln.Accept(); errc <- err }()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Accept returned a conn after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Fatal("the pending client was not disconnected")
	}
	_ = s.flush()
	if recs := readAll(t, s, 0); len(recs) != 0 {
		t.Fatalf("%d records for a handshake cut short by Close", len(recs))
	}
}
