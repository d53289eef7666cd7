package loadgen

import (
	"context"
	"errors"
	"net/url"
	"testing"
)

func TestCheckTarget(t *testing.T) {
	tests := []struct {
		name, url   string
		notLoopback bool // the refusal must be ErrNotLoopback
		ok          bool
	}{
		{"ok/ipv4", "https://127.0.0.1:9443/fhir", false, true},
		{"ok/ipv4-other-loopback", "http://127.8.9.10:3000/", false, true},
		{"ok/ipv6", "https://[::1]:9443/", false, true},
		{"ok/ipv4-mapped-loopback", "https://[::ffff:127.0.0.1]:9443/", false, true},
		{"ok/localhost", "https://localhost:9443/", false, true},
		{"fail/private", "https://10.0.0.1/", true, false},
		{"fail/unspecified", "http://0.0.0.0:3000/", true, false},
		{"fail/ipv6-unspecified", "http://[::]:3000/", true, false},
		{"fail/ipv4-mapped-remote", "https://[::ffff:192.0.2.1]/", true, false},
		{"fail/public", "https://192.0.2.1/", true, false},
		{"fail/scheme", "ftp://127.0.0.1/", false, false},
		{"fail/no-host", "https:///fhir", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			err = checkTarget(context.Background(), u)
			if (err == nil) != tt.ok {
				t.Fatalf("checkTarget(%s) = %v, want ok=%v", tt.url, err, tt.ok)
			}
			if tt.notLoopback && !errors.Is(err, ErrNotLoopback) {
				t.Errorf("error %v is not ErrNotLoopback", err)
			}
		})
	}
}

func TestLoopbackControl(t *testing.T) {
	tests := []struct {
		name, network, addr string
		ok                  bool
	}{
		{"ok/ipv4", "tcp4", "127.0.0.1:443", true},
		{"ok/ipv6", "tcp6", "[::1]:443", true},
		{"fail/remote", "tcp4", "192.0.2.1:443", false},
		{"fail/mapped-remote", "tcp6", "[::ffff:192.0.2.1]:443", false},
		{"fail/udp", "udp4", "127.0.0.1:53", false},
		{"fail/name", "tcp", "localhost:443", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := loopbackControl(tt.network, tt.addr, nil); (err == nil) != tt.ok {
				t.Errorf("loopbackControl(%s, %s) = %v, want ok=%v", tt.network, tt.addr, err, tt.ok)
			}
		})
	}
}
