package nodeauth

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
)

func TestCheckServerDoors(t *testing.T) {
	pol := func(ca tls.ClientAuthType) *caddytls.ConnectionPolicy {
		return &caddytls.ConnectionPolicy{TLSConfig: &tls.Config{ClientAuth: ca}}
	}
	tests := []struct {
		name     string
		policies []*caddytls.ConnectionPolicy
		want     string // error substring; empty: accepted
	}{
		{"ok/no-tls", nil, ""},
		{"ok/tls-without-client-auth", []*caddytls.ConnectionPolicy{pol(tls.NoClientCert), pol(tls.NoClientCert)}, ""},
		{"ok/only-strict", []*caddytls.ConnectionPolicy{pol(tls.RequireAndVerifyClientCert)}, ""},
		{"ok/two-strict", []*caddytls.ConnectionPolicy{pol(tls.RequireAndVerifyClientCert), pol(tls.RequireAndVerifyClientCert)}, ""},
		{"fail/adapter-catch-all", []*caddytls.ConnectionPolicy{pol(tls.RequireAndVerifyClientCert), pol(tls.NoClientCert)},
			"tls_connection_policies[1] lets a handshake complete without a verified client certificate (client_auth mode: none), while tls_connection_policies[0] requires one"},
		{"fail/catch-all-first", []*caddytls.ConnectionPolicy{pol(tls.NoClientCert), pol(tls.RequireAndVerifyClientCert)}, "tls_connection_policies[0]"},
		{"fail/verify-if-given", []*caddytls.ConnectionPolicy{pol(tls.VerifyClientCertIfGiven)}, "client_auth mode: verify_if_given"},
		{"fail/require-unverified", []*caddytls.ConnectionPolicy{pol(tls.RequireAnyClientCert)}, "client_auth mode: require"},
		{"fail/request", []*caddytls.ConnectionPolicy{pol(tls.RequestClientCert)}, "client_auth mode: request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkServerDoors("srv0", &caddyhttp.Server{Listen: []string{":9443"}, TLSConnPolicies: tt.policies})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `http server "srv0" (listen :9443)`) {
				t.Fatalf("error = %v, want it to name the server and contain %q", err, tt.want)
			}
		})
	}
}
