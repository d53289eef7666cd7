package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// modeRequireCaddyfile is a registry door under client_auth mode require,
// where crypto/tls verifies no chain and node_registry's ca does.
// {$CA_LINE} is the ca line (removed to test the refusal to start) and
// {$VERIFIER_LINE} the verifier.
const modeRequireCaddyfile = `{
	admin 127.0.0.1:{$CRGATE_ADMIN_PORT}
	persist_config off
	auto_https off
	servers {
		protocols h1 h2
		strict_sni_host on
	}
	metrics
	node_registry {
		clients {$CRGATE_CERTS}/clients.json
		crl {$CRGATE_CERTS}/ca.crl
		CA_LINE
		reload_interval {$CRGATE_RELOAD_INTERVAL}
	}
}
https://:{$CRGATE_REGISTRY_PORT} {
	tls {$CRGATE_CERTS}/server.crt {$CRGATE_CERTS}/server.key {
		protocols tls1.2 tls1.3
		client_auth {
			mode require
			VERIFIER_LINE
		}
	}
	node_auth
	fhir_guard
	registry_proxy {$CRGATE_UPSTREAM}
}
`

func writeModeRequireCaddyfile(t *testing.T, caLine, verifierLine string) string {
	t.Helper()
	text := strings.Replace(modeRequireCaddyfile, "CA_LINE", caLine, 1)
	text = strings.Replace(text, "VERIFIER_LINE", verifierLine, 1)
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestModeRequireRegistryVerifiesChains runs the real binary with
// client_auth mode require and node_registry's ca: crypto/tls verifies no
// chain, so every refusal below is the registry's own.
func TestModeRequireRegistryVerifiesChains(t *testing.T) {
	t.Parallel()
	// A private copy of the dev CA, so this test can issue and revoke
	// without touching the suite's shared PKI.
	pkiDir := t.TempDir()
	for _, name := range []string{"ca.crt", "ca.key", "ca.crl"} {
		copyFile(t, filepath.Join(fixtures.dir, name), filepath.Join(pkiDir, name))
	}
	if _, err := crgate("pki", "issue", "--dir", pkiDir, "--name", "victim"); err != nil {
		t.Fatal(err)
	}
	// The other CA's twin of alpha: same subject, same serial number,
	// registered too, so only the chain tells it from alpha.
	twinCert, twinKey := forgeTwin(t, filepath.Join(fixtures.dir, "clients", "alpha.crt"), fixtures.foreign, pkiDir)
	clients := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(clients, fixtures.clients, 0o644); err != nil {
		t.Fatal(err)
	}
	for id, cert := range map[string]string{"victim": filepath.Join(pkiDir, "clients", "victim.crt"), "twin": twinCert} {
		if _, err := crgate("clients", "add", "--file", clients, "--id", id, "--name", "Node "+id, "--cert", cert, "--scope", "Patient.search"); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(clients)
	if err != nil {
		t.Fatal(err)
	}
	caddyfile := writeModeRequireCaddyfile(t, "ca {$CRGATE_CERTS}/ca.crt", "verifier node_registry")
	g := startGateway(t, gatewayOptions{caddyfile: caddyfile, clients: data})

	withCert := func(certFile, keyFile string) *tls.Config {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg := g.tlsConfig(t, "")
		cfg.Certificates = []tls.Certificate{c}
		return cfg
	}
	victim := withCert(filepath.Join(pkiDir, "clients", "victim.crt"), filepath.Join(pkiDir, "clients", "victim.key"))
	twin := withCert(twinCert, twinKey)

	// A registered certificate of the CA: served.
	if status, body, err := get(g.client(t, "alpha"), g.url("/fhir/Patient?_count=1"), nil); err != nil || status != http.StatusOK {
		t.Fatalf("registered node: status %d, err %v, body %.200s", status, err, body)
	}
	// Refused in the handshake, each for the registry's reason.
	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		reason string
	}{
		{"other-ca-same-subject-and-serial", twin, "unknown_ca"},
		{"unregistered-of-the-ca", g.tlsConfig(t, "stranger"), "unregistered_certificate"},
		{"expired", g.tlsConfig(t, "expired"), "certificate_expired"},
	} {
		for _, ver := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
			cfg := tc.cfg.Clone()
			cfg.MinVersion, cfg.MaxVersion = ver, ver
			if err := g.handshakeOutcome(cfg); err == nil || !strings.Contains(err.Error(), "bad certificate") {
				t.Errorf("%s over %s: handshake outcome %v, want refused (bad certificate)", tc.name, tls.VersionName(ver), err)
			}
		}
		if want := fmt.Sprintf(`crgate_node_handshakes_refused_total{reason=%q} 2`, tc.reason); !strings.Contains(g.metrics(t), want) {
			t.Errorf("%s: metrics lack %s", tc.name, want)
		}
	}

	// The victim is served (its chain now verified and cached), also over
	// a keep-alive connection; then its certificate is revoked.
	keepAlive := &http.Client{Transport: &http.Transport{TLSClientConfig: victim}, Timeout: 15 * time.Second}
	t.Cleanup(keepAlive.CloseIdleConnections)
	for range 2 {
		if status, _, err := get(keepAlive, g.url("/fhir/Patient?_count=1"), nil); err != nil || status != http.StatusOK {
			t.Fatalf("victim before revocation: status %d, err %v", status, err)
		}
	}
	if err := g.handshakeOutcome(victim.Clone()); err != nil {
		t.Fatalf("victim's handshake before revocation: %v", err)
	}
	if _, err := crgate("pki", "revoke", "--dir", pkiDir, "--name", "victim"); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(pkiDir, "ca.crl"), filepath.Join(g.certs, "ca.crl"))
	waitFor(t, "the gateway to reload the CRL", 20*time.Second, func() bool {
		return g.logged("node registry reloaded", `"generation":1`)
	})
	if err := g.handshakeOutcome(victim.Clone()); err == nil || !strings.Contains(err.Error(), "bad certificate") {
		t.Fatalf("revoked victim's handshake: %v, want refused", err)
	}
	if status, _, err := get(keepAlive, g.url("/fhir/Patient?_count=1"), nil); err != nil || status != http.StatusForbidden {
		t.Fatalf("revoked victim's open connection: status %d, err %v; want 403", status, err)
	}
	if !strings.Contains(g.metrics(t), `crgate_node_handshakes_refused_total{reason="certificate_revoked"} 1`) {
		t.Error("metrics do not count the revoked victim's handshake")
	}
	// Others are unaffected.
	if status, _, err := get(g.client(t, "alpha"), g.url("/fhir/Patient?_count=1"), nil); err != nil || status != http.StatusOK {
		t.Fatalf("alpha after the revocation: status %d, err %v", status, err)
	}
}

// TestModeRequireWithoutRegistryCheckRefusesToStart: mode require leaves
// the chain unverified unless node_registry has a ca and the policy's
// handshakes reach its verifier; crgate refuses to start otherwise and
// names what is missing.
func TestModeRequireWithoutRegistryCheckRefusesToStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, ca, verifier string
		want               []string
	}{
		{"no-ca", "", "verifier node_registry", []string{"tls_connection_policies[0]", "client_auth mode: require", "node_registry has no ca", "apps.node_registry.ca_file"}},
		{"no-verifier", "ca {$CRGATE_CERTS}/ca.crt", "", []string{"tls_connection_policies[0]", "did not reach the node_registry verifier", "verifier node_registry"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := runGatewayToExit(t, gatewayOptions{caddyfile: writeModeRequireCaddyfile(t, tc.ca, tc.verifier)})
			if err == nil {
				t.Fatalf("crgate started with mode require and no registry check:\n%s", out)
			}
			msg := fatalMessage(out)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the error does not say %q: %s", w, msg)
				}
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

// forgeTwin signs, with the CA in caDir, a certificate with the subject
// and serial number of the one in certFile (and a key of its own), and
// writes it as twin.crt and twin.key in outDir.
func forgeTwin(t *testing.T, certFile, caDir, outDir string) (string, string) {
	t.Helper()
	orig := readCertFile(t, certFile)
	ca := readCertFile(t, filepath.Join(caDir, "ca.crt"))
	keyPEM, err := os.ReadFile(filepath.Join(caDir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: orig.SerialNumber,
		Subject:      orig.Subject,
		NotBefore:    orig.NotBefore,
		NotAfter:     orig.NotAfter,
		KeyUsage:     orig.KeyUsage,
		ExtKeyUsage:  orig.ExtKeyUsage,
		DNSNames:     orig.DNSNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certOut, keyOut := filepath.Join(outDir, "twin.crt"), filepath.Join(outDir, "twin.key")
	for path, block := range map[string]*pem.Block{certOut: {Type: "CERTIFICATE", Bytes: der}, keyOut: {Type: "PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certOut, keyOut
}

func readCertFile(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
