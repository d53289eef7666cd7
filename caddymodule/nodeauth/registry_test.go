package nodeauth

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crgate/crgate/internal/certfp"
)

func newCaddyContext(t *testing.T) caddy.Context {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return ctx
}

// provisioned returns a Registry provisioned from the given files.
func provisioned(t *testing.T, clientsFile string, crls ...string) *Registry {
	t.Helper()
	r := &Registry{ClientsFile: clientsFile, CRLFiles: crls}
	if err := r.Provision(newCaddyContext(t)); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return r
}

func clientsFor(entries ...string) []byte {
	return []byte(`{"clients":[` + strings.Join(entries, ",") + `]}`)
}

func entryFor(id, status string, certs ...*x509.Certificate) string {
	fps := make([]string, len(certs))
	for i, c := range certs {
		fps[i] = certfp.Of(c.Raw).String()
	}
	return client(id, "Node "+id, status, fps, []string{"Patient.search", "Patient.read"})
}

func TestIdentify(t *testing.T) {
	ca := newTestCA(t, "registry CA")
	other := newTestCA(t, "registry CA") // same name, different key: forges CRLs
	active := ca.issueValid(t, "active")
	rollover := ca.issueValid(t, "rollover")
	disabled := ca.issueValid(t, "disabled")
	unregistered := ca.issueValid(t, "unregistered")
	expired := ca.issue(t, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	future := ca.issue(t, "future", time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour))
	revoked := ca.issueValid(t, "revoked")

	dir := t.TempDir()
	clients := writeFile(t, dir, "clients.json", clientsFor(
		entryFor("active", "active", active, rollover),
		entryFor("disabled", "disabled", disabled),
		entryFor("expired", "active", expired),
		entryFor("future", "active", future),
		entryFor("revoked", "active", revoked),
	))
	crl := writeFile(t, dir, "ca.crl", ca.crl(t, revoked))
	reg := provisioned(t, clients, crl)

	chain := func(c *x509.Certificate) [][]*x509.Certificate { return [][]*x509.Certificate{{c, ca.cert}} }
	tests := []struct {
		name   string
		certs  []*x509.Certificate
		chains [][]*x509.Certificate
		reason string // empty: accepted
		wantID string
	}{
		{"ok/active", []*x509.Certificate{active}, chain(active), "", "active"},
		{"ok/rollover-second-cert", []*x509.Certificate{rollover}, chain(rollover), "", "active"},
		{"fail/no-certificate", nil, nil, reasonNoCertificate, ""},
		{"fail/unverified-chain", []*x509.Certificate{active}, nil, reasonUnverifiedChain, ""},
		{"fail/unregistered", []*x509.Certificate{unregistered}, chain(unregistered), reasonUnregistered, ""},
		{"fail/disabled", []*x509.Certificate{disabled}, chain(disabled), reasonDisabled, ""},
		{"fail/expired", []*x509.Certificate{expired}, chain(expired), reasonExpired, ""},
		{"fail/not-yet-valid", []*x509.Certificate{future}, chain(future), reasonNotYetValid, ""},
		{"fail/revoked", []*x509.Certificate{revoked}, chain(revoked), reasonRevoked, ""},
		{"fail/revoked-without-issuer-in-chain", []*x509.Certificate{revoked}, [][]*x509.Certificate{{revoked}}, reasonRevocationUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, pub, ref := reg.identify(tt.certs, tt.chains)
			if tt.reason == "" {
				if ref != nil {
					t.Fatalf("refused: %v", ref)
				}
				if pub.node.ID != tt.wantID || pub.node.Fingerprint != certfp.Of(tt.certs[0].Raw) {
					t.Fatalf("identified %q (%s), want %q", pub.node.ID, pub.node.Fingerprint, tt.wantID)
				}
				return
			}
			if ref == nil {
				t.Fatalf("accepted as %q, want refusal %q", pub.node.ID, tt.reason)
			}
			if ref.Reason != tt.reason || ref.Module != "node_auth" {
				t.Fatalf("refusal = %v, want reason %q", ref, tt.reason)
			}
		})
	}

	t.Run("fail/forged-crl-refuses-rather-than-trusts", func(t *testing.T) {
		forged := writeFile(t, dir, "forged.crl", other.crl(t))
		reg := provisioned(t, clients, forged)
		_, _, ref := reg.identify([]*x509.Certificate{active}, chain(active))
		if ref == nil || ref.Reason != reasonRevocationUnknown {
			t.Fatalf("refusal = %v, want %q", ref, reasonRevocationUnknown)
		}
	})
}

func TestProvisionErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "clients.json", []byte(`{"clients":[]}`))
	bad := writeFile(t, dir, "bad.json", []byte(`{"clients":[{"id":"a"}]}`))
	notCRL := writeFile(t, dir, "x.crl", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	tests := []struct {
		name string
		reg  Registry
		want string
	}{
		{"fail/no-clients-file", Registry{}, "clients_file: required"},
		{"fail/missing-clients-file", Registry{ClientsFile: filepath.Join(dir, "nope.json")}, "clients_file: open"},
		{"fail/invalid-clients-file", Registry{ClientsFile: bad}, "clients_file " + bad + ": clients[0] (id \"a\"): name: required"},
		{"fail/missing-crl", Registry{ClientsFile: good, CRLFiles: []string{filepath.Join(dir, "nope.crl")}}, "crl_files[0]: open"},
		{"fail/not-a-crl", Registry{ClientsFile: good, CRLFiles: []string{notCRL}}, "crl_files[0] " + notCRL + `: PEM block is "CERTIFICATE"`},
		{"fail/directory-as-file", Registry{ClientsFile: dir}, "is not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.reg
			err := r.Provision(newCaddyContext(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Provision error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// waitGeneration waits (bounded) until the registry reaches generation g.
func waitGeneration(t *testing.T, r *Registry, g uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.state.Load().generation < g {
		if time.Now().After(deadline) {
			t.Fatalf("registry did not reach generation %d (at %d)", g, r.state.Load().generation)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReload(t *testing.T) {
	ca := newTestCA(t, "registry CA")
	cert := ca.issueValid(t, "n")
	chains := [][]*x509.Certificate{{cert, ca.cert}}
	dir := t.TempDir()
	clients := filepath.Join(dir, "clients.json")
	replace := func(data []byte) {
		t.Helper()
		tmp := filepath.Join(dir, "tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, clients); err != nil {
			t.Fatal(err)
		}
	}
	replace(clientsFor(entryFor("n", "active", cert)))
	crlPath := writeFile(t, dir, "ca.crl", ca.crl(t))
	r := &Registry{ClientsFile: clients, CRLFiles: []string{crlPath}, ReloadInterval: caddy.Duration(20 * time.Millisecond)}
	if err := r.Provision(newCaddyContext(t)); err != nil {
		t.Fatal(err)
	}
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	go r.watch()
	t.Cleanup(func() { _ = r.Stop() })

	if _, _, ref := r.identify([]*x509.Certificate{cert}, chains); ref != nil {
		t.Fatalf("refused before any change: %v", ref)
	}

	replace(clientsFor(entryFor("n", "disabled", cert)))
	waitGeneration(t, r, 1)
	if _, _, ref := r.identify([]*x509.Certificate{cert}, chains); ref == nil || ref.Reason != reasonDisabled {
		t.Fatalf("after disabling: refusal = %v, want %q", ref, reasonDisabled)
	}

	// A broken file is rejected and the last good registry stays.
	rejected := testutil.ToFloat64(reloadsTotal.WithLabelValues("error"))
	replace([]byte(`{"clients":[{"id":"n"`))
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(reloadsTotal.WithLabelValues("error")) == rejected {
		if time.Now().After(deadline) {
			t.Fatal("the broken file was never tried")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if g := r.state.Load().generation; g != 1 {
		t.Fatalf("broken file was loaded: generation %d", g)
	}
	if _, _, ref := r.identify([]*x509.Certificate{cert}, chains); ref == nil || ref.Reason != reasonDisabled {
		t.Fatalf("after a broken file: refusal = %v, want the last good registry's %q", ref, reasonDisabled)
	}

	// Fixing the file is picked up; then revoking through the CRL.
	replace(clientsFor(entryFor("n", "active", cert)))
	waitGeneration(t, r, 2)
	if _, _, ref := r.identify([]*x509.Certificate{cert}, chains); ref != nil {
		t.Fatalf("re-enabled node refused: %v", ref)
	}
	if err := os.WriteFile(crlPath, ca.crl(t, cert), 0o600); err != nil {
		t.Fatal(err)
	}
	waitGeneration(t, r, 3)
	if _, _, ref := r.identify([]*x509.Certificate{cert}, chains); ref == nil || ref.Reason != reasonRevoked {
		t.Fatalf("after CRL update: refusal = %v, want %q", ref, reasonRevoked)
	}
}
