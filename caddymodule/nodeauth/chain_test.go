package nodeauth

import (
	"crypto/x509"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crgate/crgate/internal/certfp"
)

// TestIdentifyWithCA: with node_registry's ca, the registry verifies the
// chain itself (no chains from crypto/tls, as under client_auth mode
// require), caches it per registered certificate, and still re-checks
// validity, status and revocation at every use.
func TestIdentifyWithCA(t *testing.T) {
	ca := newTestCA(t, "registry CA")
	other := newTestCA(t, "registry CA") // same name, different key
	active := ca.issueValid(t, "active")
	// The other CA's twin of active: same subject and serial, registered
	// too, so only the chain tells them apart.
	twin := other.issueTemplate(t, &x509.Certificate{
		SerialNumber: active.SerialNumber, Subject: active.Subject,
		NotBefore: active.NotBefore, NotAfter: active.NotAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	unregistered := ca.issueValid(t, "unregistered")
	serverOnly := ca.issueTemplate(t, &x509.Certificate{
		SerialNumber: new(big.Int).Add(active.SerialNumber, big.NewInt(1000)), Subject: active.Subject,
		NotBefore: active.NotBefore, NotAfter: active.NotAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	revoked := ca.issueValid(t, "revoked")

	dir := t.TempDir()
	clients := writeFile(t, dir, "clients.json", clientsFor(
		entryFor("active", "active", active),
		entryFor("twin", "active", twin),
		entryFor("server-only", "active", serverOnly),
		entryFor("revoked", "active", revoked),
	))
	crlPath := writeFile(t, dir, "ca.crl", ca.crl(t))
	caPath := writeFile(t, dir, "ca.crt", ca.pem())
	reg := &Registry{ClientsFile: clients, CRLFiles: []string{crlPath}, CAFile: caPath}
	if err := reg.Provision(newCaddyContext(t)); err != nil {
		t.Fatal(err)
	}
	raw := func(c *x509.Certificate) [][]byte { return [][]byte{c.Raw} }

	tests := []struct {
		name   string
		cert   *x509.Certificate
		reason string // empty: accepted
	}{
		{"ok/registered", active, ""},
		{"fail/other-ca-same-subject-and-serial", twin, reasonUnknownCA},
		{"fail/unregistered-right-ca", unregistered, reasonUnregistered},
		{"fail/wrong-key-usage", serverOnly, reasonWrongKeyUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"handshake", "request"} {
				var ref error
				if path == "handshake" {
					_, _, r := reg.identifyRaw(raw(tt.cert), nil)
					if r != nil {
						ref = r
					}
				} else {
					_, _, r := reg.identify([]*x509.Certificate{tt.cert}, nil)
					if r != nil {
						ref = r
					}
				}
				if tt.reason == "" {
					if ref != nil {
						t.Fatalf("%s: refused: %v", path, ref)
					}
					continue
				}
				if ref == nil || !strings.Contains(ref.Error(), tt.reason) {
					t.Fatalf("%s: refusal = %v, want %q", path, ref, tt.reason)
				}
			}
		})
	}

	t.Run("ok/cached-chain-skips-parsing", func(t *testing.T) {
		parses := 0
		parse := func() ([]*x509.Certificate, error) { parses++; return []*x509.Certificate{active}, nil }
		for range 3 {
			if _, _, ref := reg.decide(active.Raw, parse, nil); ref != nil {
				t.Fatalf("refused: %v", ref)
			}
		}
		if parses != 0 { // ok/registered above verified and cached it
			t.Fatalf("parsed %d times, want 0 (cached)", parses)
		}
	})

	t.Run("fail/expired-though-cached", func(t *testing.T) {
		if _, _, ref := reg.identifyRaw(raw(active), nil); ref != nil {
			t.Fatalf("refused: %v", ref)
		}
		now = func() time.Time { return active.NotAfter.Add(time.Minute) }
		t.Cleanup(func() { now = time.Now })
		if _, _, ref := reg.identifyRaw(raw(active), nil); ref == nil || ref.Reason != reasonExpired {
			t.Fatalf("refusal = %v, want %q", ref, reasonExpired)
		}
	})

	t.Run("fail/revoked-after-reload-though-cached", func(t *testing.T) {
		if _, _, ref := reg.identifyRaw(raw(revoked), nil); ref != nil {
			t.Fatalf("before revocation: %v", ref)
		}
		if err := os.WriteFile(crlPath, ca.crl(t, revoked), 0o600); err != nil {
			t.Fatal(err)
		}
		st, _, err := reg.load(reg.state.Load().generation + 1)
		if err != nil {
			t.Fatal(err)
		}
		if st.chains[certfp.Of(revoked.Raw)].Load() != nil {
			t.Fatal("a new generation starts with a cached chain")
		}
		reg.state.Store(st)
		if _, _, ref := reg.identifyRaw(raw(revoked), nil); ref == nil || ref.Reason != reasonRevoked {
			t.Fatalf("refusal = %v, want %q", ref, reasonRevoked)
		}
	})
}

// A changed ca file is a new generation: a certificate verified and cached
// under the old CA is refused once its CA is no longer trusted.
func TestCAFileReloadDropsCachedChains(t *testing.T) {
	ca := newTestCA(t, "registry CA")
	successor := newTestCA(t, "registry CA 2")
	node := ca.issueValid(t, "node")
	dir := t.TempDir()
	clients := writeFile(t, dir, "clients.json", clientsFor(entryFor("node", "active", node)))
	caPath := writeFile(t, dir, "ca.crt", ca.pem())
	reg := &Registry{ClientsFile: clients, CAFile: caPath}
	if err := reg.Provision(newCaddyContext(t)); err != nil {
		t.Fatal(err)
	}
	if _, _, ref := reg.identifyRaw([][]byte{node.Raw}, nil); ref != nil {
		t.Fatalf("under its own CA: %v", ref)
	}
	if !maps.Equal(reg.currentStamps(), reg.stamps) {
		t.Fatal("the watcher sees a change before any")
	}
	if err := os.WriteFile(caPath, successor.pem(), 0o600); err != nil {
		t.Fatal(err)
	}
	if maps.Equal(reg.currentStamps(), reg.stamps) {
		t.Fatal("the watcher does not see the ca file change")
	}
	st, _, err := reg.load(1)
	if err != nil {
		t.Fatal(err)
	}
	reg.state.Store(st)
	if _, _, ref := reg.identifyRaw([][]byte{node.Raw}, nil); ref == nil || ref.Reason != reasonUnknownCA {
		t.Fatalf("after the CA changed: refusal = %v, want %q", ref, reasonUnknownCA)
	}
}

func TestCAFileErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	clients := writeFile(t, dir, "clients.json", []byte(`{"clients":[]}`))
	notCert := writeFile(t, dir, "x.pem", []byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"))
	empty := writeFile(t, dir, "empty.pem", nil)
	tests := []struct {
		name, ca, want string
	}{
		{"fail/missing", filepath.Join(dir, "nope.crt"), "ca_file: open"},
		{"fail/not-a-certificate", notCert, "ca_file " + notCert + `: PEM block 0 is "X509 CRL"`},
		{"fail/empty", empty, "ca_file " + empty + ": no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Registry{ClientsFile: clients, CAFile: tt.ca}
			err := r.Provision(newCaddyContext(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Provision error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
