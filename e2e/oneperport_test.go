package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestOneGatewayPerPort: a second gateway started on a port a running one
// serves, with a configuration of its own (its own audit directory and
// admin API), refuses to start, naming the port. Caddy's listeners set
// SO_REUSEPORT: without the refusal it would start and the kernel would
// hand it about half of the port's connections. The first keeps serving.
func TestOneGatewayPerPort(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	for _, tc := range []struct {
		door, env string
		port      int
	}{
		{"registry", "CRGATE_REGISTRY_PORT", g.port},
		{"admin", "CRGATE_ADMIN_SITE_PORT", g.adminSite},
	} {
		t.Run(tc.door, func(t *testing.T) {
			out, err := runGatewayToExit(t, gatewayOptions{env: map[string]string{
				tc.env:             fmt.Sprint(tc.port),
				"CRGATE_AUDIT_DIR": t.TempDir(),
			}})
			want := fmt.Sprintf("another crgate already serves tcp port %d", tc.port)
			if err == nil || !strings.Contains(out, want) {
				t.Fatalf("a second gateway on the %s door's port %d: %v\n%s\nwant a refusal: %q", tc.door, tc.port, err, out, want)
			}
		})
	}
	c := g.client(t, "alpha", http1)
	for range 20 {
		if code, _, err := get(c, g.url("/fhir/Patient/p-0001"), nil); err != nil || code != 200 {
			t.Fatalf("the running gateway after the refused second: %d %v", code, err)
		}
	}
}
