package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrNotLoopback is returned (wrapped) for a target outside 127.0.0.0/8
// and ::1: the load generator is a benchmarking tool for this machine, not
// a way to flood someone else's server.
var ErrNotLoopback = errors.New("only loopback targets (127.0.0.0/8, ::1, localhost) are allowed")

// checkTarget accepts an http or https URL whose host is a loopback IP
// literal or a name that resolves only to loopback addresses.
func checkTarget(ctx context.Context, u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %q: scheme must be http or https", u.Redacted())
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("url %q: no host", u.Redacted())
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !ip.Unmap().IsLoopback() {
			return fmt.Errorf("target %s: %w", host, ErrNotLoopback)
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("resolving %q: %w", host, err)
	}
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return fmt.Errorf("target %s resolves to %s: %w", host, a, ErrNotLoopback)
		}
	}
	return nil
}

// loopbackControl refuses, before connect(2), any socket address that is
// not loopback. It is the dialer's last word whatever a name resolved to
// between the start-up check and the dial.
func loopbackControl(network, address string, _ syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return fmt.Errorf("dialing %s %s: only TCP", network, address)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dialing %s: %w", address, err)
	}
	if !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("dialing %s: %w", address, ErrNotLoopback)
	}
	return nil
}
