package portclaim

import (
	"errors"
	"net"
	"syscall"
)

// hold binds a datagram socket in the abstract namespace under name: the
// kernel lets one socket at a time have it in a network namespace (where
// TCP ports live too) and frees it when the process ends, even by kill -9,
// so a claim is never left behind.
func hold(name string) (func(), error) {
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "@" + name, Net: "unixgram"})
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, ErrClaimed
	}
	if err != nil {
		return nil, err
	}
	return func() { _ = c.Close() }, nil
}
