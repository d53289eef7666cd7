package registryproxy

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/crgate/crgate/internal/adapttest"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, input string
		want        Proxy
		err         string
	}{
		{"ok/address", `registry_proxy 127.0.0.1:3000`, Proxy{Upstream: "127.0.0.1:3000"}, ""},
		{"ok/http-scheme", `registry_proxy http://[::1]:8080`, Proxy{Upstream: "http://[::1]:8080"}, ""},
		{"ok/block", "registry_proxy opencr:3000 {\n max_idle_conns 64\n idle_timeout 2s\n dial_timeout 1s\n response_header_timeout 30s\n}",
			Proxy{Upstream: "opencr:3000", MaxIdleConns: 64, IdleTimeout: caddy.Duration(2 * time.Second),
				DialTimeout: caddy.Duration(time.Second), ResponseHeaderTimeout: caddy.Duration(30 * time.Second)}, ""},
		{"fail/no-upstream", `registry_proxy`, Proxy{}, "the upstream is required"},
		{"fail/two-upstreams", `registry_proxy 127.0.0.1:3000 127.0.0.1:3001`, Proxy{}, "one upstream only"},
		{"fail/https", `registry_proxy https://opencr:3000`, Proxy{}, "only plain http upstreams"},
		{"fail/path", `registry_proxy http://opencr:3000/fhir`, Proxy{}, "no path"},
		{"fail/no-port", `registry_proxy opencr`, Proxy{}, "missing port"},
		{"fail/bad-port", `registry_proxy opencr:99999`, Proxy{}, "want 1..65535"},
		{"fail/placeholder", `registry_proxy {http.request.host}:3000`, Proxy{}, "placeholders are not supported"},
		{"fail/zero-conns", "registry_proxy 127.0.0.1:3000 {\n max_idle_conns 0\n}", Proxy{}, "want a positive integer"},
		{"fail/twice", "registry_proxy 127.0.0.1:3000 {\n idle_timeout 1s\n idle_timeout 2s\n}", Proxy{}, "idle_timeout: given twice"},
		{"fail/unknown", "registry_proxy 127.0.0.1:3000 {\n transport http\n}", Proxy{}, `unrecognized subdirective "transport"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Proxy
			err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Upstream != tt.want.Upstream || p.MaxIdleConns != tt.want.MaxIdleConns || p.IdleTimeout != tt.want.IdleTimeout ||
				p.DialTimeout != tt.want.DialTimeout || p.ResponseHeaderTimeout != tt.want.ResponseHeaderTimeout {
				t.Fatalf("got %+v, want %+v", p, tt.want)
			}
		})
	}
}

func TestSetupRefusesBadJSON(t *testing.T) {
	tests := []struct {
		name string
		p    Proxy
		err  string
	}{
		{"fail/no-upstream", Proxy{}, "upstream: required"},
		{"fail/negative-conns", Proxy{Upstream: "127.0.0.1:1", MaxIdleConns: -1}, "max_idle_conns -1"},
		{"fail/negative-timeout", Proxy{Upstream: "127.0.0.1:1", ResponseHeaderTimeout: -1}, "response_header_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.setup()
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestCaddyfileAdapt(t *testing.T) {
	adapttest.Run(t, "testdata")
}
