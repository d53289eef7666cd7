package portclaim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// hold listens on a stream socket in the abstract namespace under name:
// the kernel lets one socket at a time have it in a network namespace
// (where TCP ports live too) and frees it when the process ends, even by
// kill -9, so a claim is never left behind.
//
// Abstract names carry no permissions, so any local user could take one
// first. Only a process of the same effective user can share a port with
// SO_REUSEPORT, so a name held by another user's process is no gateway of
// ours: that is ErrForeign, and the caller goes on without the claim
// rather than let another user keep crgate from starting.
func hold(name string) (func(), error) {
	ln, err := listen("unix", "@"+name)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, holder(name)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// Answer other processes' holder checks.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return func() { _ = ln.Close() }, nil
}

// euid and listen are the process's effective user id and net.Listen
// (variables for tests).
var (
	euid   = os.Geteuid
	listen = net.Listen
)

// holder tells whether the process holding name runs as this process's
// effective user (ErrClaimed) or not (ErrForeign), from the credentials
// the kernel records for the listening socket.
func holder(name string) error {
	c, err := net.DialTimeout("unix", "@"+name, time.Second)
	if err != nil {
		return ErrForeign
	}
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return ErrForeign
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return ErrForeign
	}
	if int(cred.Uid) != euid() {
		return ErrForeign
	}
	return ErrClaimed
}
