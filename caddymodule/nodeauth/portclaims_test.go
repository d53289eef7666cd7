//go:build linux

package nodeauth

import (
	"net"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// held reports whether another process could not claim port now.
func held(t *testing.T, port string) bool {
	t.Helper()
	ln, err := net.Listen("unix", "@crgate/tcp/"+port)
	if err != nil {
		return true
	}
	ln.Close()
	return false
}

func TestClaimServerPorts(t *testing.T) {
	servers := map[string]*caddyhttp.Server{
		"srv0": {Listen: []string{":59211"}},
		"srv1": {Listen: []string{"unix//tmp/crgate-test.sock", "127.0.0.1:59212-59213"}},
	}
	release, err := claimServerPorts(servers, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"59211", "59212", "59213"} {
		if !held(t, p) {
			t.Errorf("port %s not claimed", p)
		}
	}
	release()
	for _, p := range []string{"59211", "59212", "59213"} {
		if held(t, p) {
			t.Errorf("port %s still claimed after release", p)
		}
	}

	// Another process serves the last port of the range: all or nothing.
	other, err := net.Listen("unix", "@crgate/tcp/59213")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = claimServerPorts(servers, zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "server srv1, listen 127.0.0.1:59212-59213: another crgate already serves tcp port 59213") {
		t.Fatalf("claim beside another gateway: %v", err)
	}
	for _, p := range []string{"59211", "59212"} {
		if held(t, p) {
			t.Errorf("port %s left claimed after the refusal", p)
		}
	}
}
