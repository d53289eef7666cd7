//go:build linux

package registryproxy

import (
	"net"
	"syscall"
)

// prober looks at an idle connection's socket without blocking or
// consuming: one recv(MSG_PEEK|MSG_DONTWAIT) per reuse.
type prober struct {
	raw syscall.RawConn
	fn  func(fd uintptr) bool // bound once, so a probe allocates nothing
	n   int
	err error
}

func (p *prober) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.raw = raw
	p.fn = p.peek
}

func (p *prober) peek(fd uintptr) bool {
	var b [1]byte
	p.n, _, p.err = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true
}

// quiet reports whether the socket is open with nothing to read: EAGAIN.
// Data (n > 0), end of stream (n == 0) or any other error mean the
// connection must not be reused.
func (p *prober) quiet() bool {
	if p.raw == nil {
		return true
	}
	if err := p.raw.Read(p.fn); err != nil {
		return false
	}
	return p.err == syscall.EAGAIN
}
