package nodeauth

import (
	"fmt"
	"net/http"
	"testing"
)

func TestStripper(t *testing.T) {
	s, err := newStripper([]string{"X-Tenant-*", "x_my_identity"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header string
		strip  bool
	}{
		{"strip/openhim-canonical", "X-Openhim-Clientid", true},
		{"strip/openhim-underscore", "X_openhim_clientid", true},
		{"strip/openhim-upper-underscore", "X_OPENHIM_CLIENTID", true},
		{"strip/openhim-mixed", "x-OpenHIM_clientID", true},
		{"strip/client-prefix", "X-Client-Id", true},
		{"strip/client-prefix-underscore", "X_Client_Name", true},
		{"strip/forwarded-client-cert", "X-Forwarded-Client-Cert", true},
		{"strip/traefik-client-cert-info", "X-Forwarded-Tls-Client-Cert-Info", true},
		{"strip/ssl-client-verify", "X-Ssl-Client-Verify", true},
		{"strip/ssl-client-cgi", "Ssl_client_s_dn", true},
		{"strip/ssl-cert", "X-Ssl-Cert", true},
		{"strip/crgate-own", "X-Crgate-Node-Id", true},
		{"strip/remote-user", "Remote-User", true},
		{"strip/configured-prefix", "X-Tenant-Id", true},
		{"strip/configured-name-dash", "X-My-Identity", true},
		{"keep/content-type", "Content-Type", false},
		{"keep/authorization", "Authorization", false},
		{"keep/x-clientid-no-dash", "X-Clientid", false},
		{"keep/configured-name-is-not-prefix", "X-My-Identity-Extra", false},
		{"keep/x-request-id", "X-Request-Id", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{tt.header: {"v"}, "Accept": {"a"}}
			s.strip(h)
			_, present := h[tt.header]
			if present == tt.strip {
				t.Fatalf("%q present after strip = %v, want %v", tt.header, present, !tt.strip)
			}
			if h.Get("Accept") != "a" {
				t.Fatal("unrelated header removed")
			}
		})
	}
}

func TestParseHeaderPattern(t *testing.T) {
	for _, bad := range []string{"", "*", "x a", "x:y", "x\r\ny"} {
		if _, err := parseHeaderPattern(bad); err == nil {
			t.Errorf("parseHeaderPattern(%q) accepted", bad)
		}
	}
	if _, err := newStripper([]string{"ok", "bad header"}); err == nil || err.Error() == "" {
		t.Fatal("newStripper accepted a bad name")
	}
}

func TestStripConnectionTokens(t *testing.T) {
	s, err := newStripper(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"keep/plain", []string{"keep-alive"}, []string{"keep-alive"}},
		{"keep/unrelated-token", []string{"close, X-Trace"}, []string{"close, X-Trace"}},
		{"strip/identity", []string{"X-Openhim-Clientid"}, []string{""}},
		{"strip/among-others", []string{"keep-alive,x-crgate-node-id , X-Trace"}, []string{"keep-alive, X-Trace"}},
		{"strip/underscore-spelling", []string{"X_OPENHIM_CLIENTID"}, []string{""}},
		{"strip/second-value", []string{"close", "X-Crgate-Node-Name,X-Crgate-Node-Fingerprint"}, []string{"close", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Connection": append([]string(nil), tt.in...)}
			s.stripConnection(h)
			if got := h["Connection"]; len(got) != len(tt.want) || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Connection %q → %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
