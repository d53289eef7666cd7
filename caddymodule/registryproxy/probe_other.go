//go:build !linux

package registryproxy

import "net"

// prober is a no-op where recv(MSG_PEEK|MSG_DONTWAIT) is not wired up;
// a connection the upstream closed then costs one retry (idempotent
// requests) or a 502.
type prober struct{}

func (p *prober) init(net.Conn) {}

func (p *prober) quiet() bool { return true }
