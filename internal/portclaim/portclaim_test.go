//go:build linux

package portclaim

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// another holds name as a second process would, until stop or the end of
// the test.
func another(t *testing.T, name string) (stop func()) {
	t.Helper()
	ln, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return func() { ln.Close() }
}

// free reports whether another process could take name now.
func free(name string) bool {
	ln, err := net.Listen("unix", "@"+name)
	if err != nil {
		return false
	}
	ln.Close()
	return true
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
	if free("crgate/tcp/59101") {
		t.Fatal("another process could claim the port while one claim was still held")
	}
	r2()
	if !free("crgate/tcp/59101") {
		t.Fatal("the port stayed claimed after the last release")
	}
	stop := another(t, "crgate/tcp/59101")
	if _, err := Claim(port); !errors.Is(err, ErrClaimed) {
		t.Fatalf("Claim while another process of this user holds the port = %v, want ErrClaimed", err)
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

// A process of another user holding the name cannot share the port: it
// is reported as foreign, not as a second gateway.
func TestClaimNameHeldByAnotherUser(t *testing.T) {
	another(t, "crgate/tcp/59104")
	own := euid
	t.Cleanup(func() { euid = own })
	euid = func() int { return own() + 1 }
	if _, err := Claim(59104); !errors.Is(err, ErrForeign) {
		t.Fatalf("Claim beside another user's socket = %v, want ErrForeign", err)
	}
}

// Where unix sockets are refused (a service restricted to AF_INET and
// AF_INET6), no claim can be made: ErrUnavailable, not a refusal.
func TestClaimUnavailable(t *testing.T) {
	own := listen
	t.Cleanup(func() { listen = own })
	listen = func(string, string) (net.Listener, error) {
		return nil, &net.OpError{Op: "listen", Net: "unix", Err: syscall.EAFNOSUPPORT}
	}
	if _, err := Claim(59105); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClaimed) {
		t.Fatalf("Claim without unix sockets = %v, want ErrUnavailable", err)
	}
}
