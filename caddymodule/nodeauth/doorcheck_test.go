package nodeauth

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
)

func TestCheckServerDoors(t *testing.T) {
	pol := func(ca tls.ClientAuthType) *caddytls.ConnectionPolicy {
		return &caddytls.ConnectionPolicy{TLSConfig: &tls.Config{ClientAuth: ca}}
	}
	reached := func(*tls.Config) error { return nil }
	missed := func(*tls.Config) error { return errors.New("probe accepted") }
	tests := []struct {
		name     string
		policies []*caddytls.ConnectionPolicy
		probe    func(*tls.Config) error // nil: node_registry has no ca
		want     string                  // error substring; empty: accepted
	}{
		{"ok/no-tls", nil, nil, ""},
		{"ok/tls-without-client-auth", []*caddytls.ConnectionPolicy{pol(tls.NoClientCert), pol(tls.NoClientCert)}, nil, ""},
		{"ok/only-strict", []*caddytls.ConnectionPolicy{pol(tls.RequireAndVerifyClientCert)}, nil, ""},
		{"ok/two-strict", []*caddytls.ConnectionPolicy{pol(tls.RequireAndVerifyClientCert), pol(tls.RequireAndVerifyClientCert)}, nil, ""},
		{"ok/require-with-ca-and-verifier-reached", []*caddytls.ConnectionPolicy{pol(tls.RequireAnyClientCert)}, reached, ""},
		{"ok/strict-and-require-with-ca", []*caddytls.ConnectionPolicy{pol(tls.RequireAndVerifyClientCert), pol(tls.RequireAnyClientCert)}, reached, ""},
		{"fail/adapter-catch-all", []*caddytls.ConnectionPolicy{pol(tls.RequireAndVerifyClientCert), pol(tls.NoClientCert)}, nil,
			"tls_connection_policies[1] lets a handshake complete without a verified client certificate (client_auth mode: none), while tls_connection_policies[0] requires one"},
		{"fail/catch-all-first", []*caddytls.ConnectionPolicy{pol(tls.NoClientCert), pol(tls.RequireAndVerifyClientCert)}, nil, "tls_connection_policies[0]"},
		{"fail/verify-if-given", []*caddytls.ConnectionPolicy{pol(tls.VerifyClientCertIfGiven)}, reached, "client_auth mode: verify_if_given"},
		{"fail/require-without-ca", []*caddytls.ConnectionPolicy{pol(tls.RequireAnyClientCert)}, nil,
			"client_auth mode: require, which leaves the chain to node_registry, and node_registry has no ca (Caddyfile: node_registry { ca <file> }; JSON: apps.node_registry.ca_file)"},
		{"fail/require-with-ca-verifier-not-reached", []*caddytls.ConnectionPolicy{pol(tls.RequireAnyClientCert)}, missed,
			"a probe handshake did not reach the node_registry verifier (probe accepted); add `verifier node_registry`"},
		{"fail/require-with-ca-beside-catch-all", []*caddytls.ConnectionPolicy{pol(tls.RequireAnyClientCert), pol(tls.NoClientCert)}, reached,
			"tls_connection_policies[1] lets a handshake complete without a verified client certificate (client_auth mode: none), while tls_connection_policies[0] requires one"},
		{"fail/request", []*caddytls.ConnectionPolicy{pol(tls.RequestClientCert)}, nil, "client_auth mode: request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkServerDoors("srv0", &caddyhttp.Server{Listen: []string{":9443"}, TLSConnPolicies: tt.policies}, tt.probe)
			checkServerError(t, err, tt.want)
		})
	}
}

// checkServerError asserts a start-time check's verdict on server srv0
// (listen :9443): accepted when want is "", else an error naming the
// server and containing want.
func checkServerError(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `http server "srv0" (listen :9443)`) {
		t.Fatalf("error = %v, want it to name the server and contain %q", err, want)
	}
}
