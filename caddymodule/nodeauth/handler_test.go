package nodeauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/crgate/crgate/internal/certfp"
	"github.com/crgate/crgate/internal/gate"
)

func TestHandler(t *testing.T) {
	ca := newTestCA(t, "registry CA")
	good := ca.issueValid(t, "good")
	off := ca.issueValid(t, "off")
	stranger := ca.issueValid(t, "stranger")
	dir := t.TempDir()
	clients := writeFile(t, dir, "clients.json", clientsFor(entryFor("good", "active", good), entryFor("off", "disabled", off)))

	// Wired by hand: Provision finds the registry through a running config,
	// which the end-to-end suite covers.
	h := &Handler{registry: provisioned(t, clients), logger: newCaddyContext(t).Logger()}
	var err error
	if h.strip, err = newStripper(nil); err != nil {
		t.Fatal(err)
	}

	spoofed := http.Header{
		"X-Openhim-Clientid":  {"admin"},
		"X_openhim_clientid":  {"admin"},
		"X-Crgate-Node-Id":    {"admin"},
		"X-Client-Cert":       {"forged"},
		"X-Ssl-Client-S-Dn":   {"CN=admin"},
		"Accept":              {"application/fhir+json"},
		"X-Forwarded-For":     {"10.0.0.1"},
		"X-Crgate-Node-Extra": {"x"},
	}
	tlsFor := func(c *x509.Certificate) *tls.ConnectionState {
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c, ca.cert}}}
	}
	tests := []struct {
		name   string
		tls    *tls.ConnectionState
		reason string
	}{
		{"ok/registered", tlsFor(good), ""},
		{"fail/plain-http", nil, reasonNoCertificate},
		{"fail/no-certificate", &tls.ConnectionState{}, reasonNoCertificate},
		{"fail/disabled", tlsFor(off), reasonDisabled},
		{"fail/unregistered", tlsFor(stranger), reasonUnregistered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "https://localhost/fhir/Patient", nil)
			req.Header = spoofed.Clone()
			req.TLS = tt.tls
			repl := caddy.NewReplacer()
			w := httptest.NewRecorder()
			req = caddyhttp.PrepareRequest(req, repl, w, nil)
			var upstream http.Header
			var node *gate.Node
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				upstream = r.Header.Clone()
				node, _ = gate.NodeFrom(r)
				return nil
			})
			err := h.ServeHTTP(w, req, next)

			// Spoofed identity headers are gone whatever the outcome.
			for _, name := range []string{"X_openhim_clientid", "X-Client-Cert", "X-Ssl-Client-S-Dn", "X-Crgate-Node-Extra"} {
				if _, ok := req.Header[name]; ok {
					t.Errorf("client-supplied %s survived", name)
				}
			}
			if tt.reason != "" {
				var he caddyhttp.HandlerError
				var ref *gate.Refusal
				if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
					t.Fatalf("err = %v, want a 403 HandlerError", err)
				}
				if !errors.As(err, &ref) || ref.Reason != tt.reason {
					t.Fatalf("refusal = %v, want reason %q", ref, tt.reason)
				}
				if upstream != nil {
					t.Fatal("next handler ran for a refused request")
				}
				return
			}
			if err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			fp := certfp.Of(good.Raw).String()
			want := map[string]string{
				"X-Openhim-Clientid":        "good",
				"X-Crgate-Node-Id":          "good",
				"X-Crgate-Node-Name":        "Node good",
				"X-Crgate-Node-Fingerprint": fp,
				"Accept":                    "application/fhir+json",
				"X-Forwarded-For":           "10.0.0.1",
			}
			for k, v := range want {
				if got := upstream.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("upstream %s = %q, want exactly [%q]", k, got, v)
				}
			}
			if node == nil || node.ID != "good" || !node.Scopes.Allows("Patient", "search") ||
				node.Fingerprint != certfp.Of(good.Raw) || node.FingerprintText != fp {
				t.Fatalf("node in request = %+v", node)
			}
			for key, v := range map[string]string{
				"http.auth.node.id":          "good",
				"http.auth.node.name":        "Node good",
				"http.auth.node.scopes":      "Patient.search Patient.read",
				"http.auth.node.fingerprint": fp,
				"http.auth.user.id":          "good",
			} {
				if got, _ := repl.GetString(key); got != v {
					t.Errorf("{%s} = %q, want %q", key, got, v)
				}
			}
		})
	}
}
