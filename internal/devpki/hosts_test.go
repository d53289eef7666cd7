package devpki

import (
	"slices"
	"strings"
	"testing"
)

func TestServerSANs(t *testing.T) {
	tests := []struct {
		name    string
		extra   []string
		wantDNS []string
		wantIPs []string
		ok      bool
	}{
		{"ok/defaults", nil, []string{"localhost"}, []string{"127.0.0.1", "::1"}, true},
		{"ok/dns", []string{"gw.example.test"}, []string{"localhost", "gw.example.test"}, []string{"127.0.0.1", "::1"}, true},
		{"ok/ipv4", []string{"192.168.1.10"}, []string{"localhost"}, []string{"127.0.0.1", "::1", "192.168.1.10"}, true},
		{"ok/ipv6", []string{"fd00::1"}, []string{"localhost"}, []string{"127.0.0.1", "::1", "fd00::1"}, true},
		{"ok/wildcard", []string{"*.dev.test"}, []string{"localhost", "*.dev.test"}, []string{"127.0.0.1", "::1"}, true},
		{"ok/container-name-underscore", []string{"crgate_gw"}, []string{"localhost", "crgate_gw"}, []string{"127.0.0.1", "::1"}, true},
		{"ok/upper-case-lowered", []string{"GW.Example.TEST"}, []string{"localhost", "gw.example.test"}, []string{"127.0.0.1", "::1"}, true},
		{"ok/duplicates-dropped", []string{"localhost", "::1", "a.test", "A.test", "0:0::1"}, []string{"localhost", "a.test"}, []string{"127.0.0.1", "::1"}, true},
		{"fail/empty", []string{""}, nil, nil, false},
		{"fail/comma-list", []string{"a.test,b.test"}, nil, nil, false},
		{"fail/trailing-dot", []string{"a.test."}, nil, nil, false},
		{"fail/double-dot", []string{"a..test"}, nil, nil, false},
		{"fail/ipv6-zone", []string{"fe80::1%eth0"}, nil, nil, false},
		{"fail/bracketed-ipv6", []string{"[::1]"}, nil, nil, false},
		{"fail/host-port", []string{"gw.test:8443"}, nil, nil, false},
		{"fail/url", []string{"https://gw.test"}, nil, nil, false},
		{"fail/label-dash", []string{"-gw.test"}, nil, nil, false},
		{"fail/label-too-long", []string{strings.Repeat("a", 64) + ".test"}, nil, nil, false},
		{"fail/name-too-long", []string{strings.Repeat("abcdefg.", 32) + "test"}, nil, nil, false},
		{"fail/inner-wildcard", []string{"a.*.test"}, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns, ips, err := serverSANs(tt.extra)
			if !tt.ok {
				if err == nil {
					t.Fatalf("serverSANs(%q) = %q, %v; want error", tt.extra, dns, ips)
				}
				if !strings.Contains(err.Error(), "--host") {
					t.Errorf("error %q does not name --host", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("serverSANs(%q): %v", tt.extra, err)
			}
			var gotIPs []string
			for _, ip := range ips {
				gotIPs = append(gotIPs, ip.String())
			}
			if !slices.Equal(dns, tt.wantDNS) || !slices.Equal(gotIPs, tt.wantIPs) {
				t.Errorf("serverSANs(%q) = %q, %q; want %q, %q", tt.extra, dns, gotIPs, tt.wantDNS, tt.wantIPs)
			}
		})
	}
}
