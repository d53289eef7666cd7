//go:build linux

package portclaim

import (
	"errors"
	"net"
	"testing"
)

// another holds name as a second process would, until the test ends.
func another(t *testing.T, name string) func() {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "@" + name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return func() { c.Close() }
}

func TestClaim(t *testing.T) {
	const port = 59101
	// This process claims twice (a reload) and holds the port until the
	// last release.
	r1, err := Claim(port)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Claim(port)
	if err != nil {
		t.Fatalf("a second claim in the same process: %v", err)
	}
	r1()
	r1() // a release counts once
	if _, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "@crgate/tcp/59101", Net: "unixgram"}); err == nil {
		t.Fatal("another process could claim the port while one claim was still held")
	}
	r2()
	stop := another(t, "crgate/tcp/59101")
	if _, err := Claim(port); !errors.Is(err, ErrClaimed) {
		t.Fatalf("Claim while another process holds the port = %v, want ErrClaimed", err)
	}
	stop()
	r3, err := Claim(port)
	if err != nil {
		t.Fatalf("Claim after the other process let go: %v", err)
	}
	r3()
	// Ports are claimed one by one.
	another(t, "crgate/tcp/59102")
	r4, err := Claim(59103)
	if err != nil {
		t.Fatalf("Claim of a port nobody holds: %v", err)
	}
	r4()
}
