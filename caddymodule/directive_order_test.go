package caddymodule

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// TestDirectiveOrder checks the order crgate's directives take in a route,
// whichever order a Caddyfile writes them in. Plugins can only be ordered
// against Caddy's standard directives, so the relative order of crgate's
// own depends on package initialisation order; this test pins it.
func TestDirectiveOrder(t *testing.T) {
	const cf = `:9443 {
	reverse_proxy 127.0.0.1:3000
	header X-A b
	map {path} {x} {
		default y
	}
	admin_login {
		store sqlite a.db
		pepper_file p
		totp_key_file k
	}
	subnet_guard 127.0.0.1
	fhir_guard
	node_auth
}
`
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []struct {
							Handler string `json:"handler"`
						} `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range cfg.Apps.HTTP.Servers["srv0"].Routes {
		for _, h := range r.Handle {
			got = append(got, h.Handler)
		}
	}
	want := []string{"node_auth", "fhir_guard", "subnet_guard", "map", "admin_login", "headers", "reverse_proxy"}
	if !slices.Equal(got, want) {
		t.Fatalf("handler order = %q, want %q", got, want)
	}
}
