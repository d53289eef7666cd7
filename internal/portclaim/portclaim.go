// Package portclaim makes each TCP port crgate serves one gateway's. Caddy
// opens its listeners with SO_REUSEPORT, so a second crgate started on a
// port a running one serves (an old instance left behind, a second unit)
// would start without error and take about half of the connections, each
// half under its own configuration. A claim is refused instead.
package portclaim

import (
	"errors"
	"fmt"
	"sync"
)

// ErrClaimed is returned when another process of this user holds the
// claim: a second gateway on the port.
var ErrClaimed = errors.New("claimed by another process")

// ErrForeign is returned when a process of another user (or one whose
// user cannot be told) holds the claim's name. It cannot share the port
// with this process, so it is no second gateway; the port goes unclaimed.
var ErrForeign = errors.New("claim name held by a process of another user")

// ErrUnavailable wraps the error of a claim that could not be made at all
// (no unix sockets under the service's address-family restrictions, say).
// The port goes unclaimed: a guard against a second gateway must not be
// what keeps the first from starting.
var ErrUnavailable = errors.New("port claims unavailable")

// claims are this process's claims by name. A configuration reload starts
// the new configuration before it stops the old one, so a process claims
// a port again while it still holds it: claims are counted.
var (
	mu     sync.Mutex
	claims = map[string]*claim{}
)

type claim struct {
	n       int
	release func()
}

// Claim claims the TCP port for this process until the returned release
// is called (once). It fails with ErrClaimed while another process of
// this user holds the port's claim, with ErrForeign when a process of
// another user holds its name, and with ErrUnavailable when no claim can
// be made.
func Claim(port uint) (release func(), err error) {
	name := fmt.Sprintf("crgate/tcp/%d", port)
	mu.Lock()
	defer mu.Unlock()
	c := claims[name]
	if c == nil {
		rel, err := hold(name)
		if err != nil {
			return nil, fmt.Errorf("tcp port %d: %w", port, err)
		}
		c = &claim{release: rel}
		claims[name] = c
	}
	c.n++
	var once sync.Once
	return func() { once.Do(func() { drop(name) }) }, nil
}

func drop(name string) {
	mu.Lock()
	defer mu.Unlock()
	c := claims[name]
	if c == nil {
		return
	}
	if c.n--; c.n == 0 {
		c.release()
		delete(claims, name)
	}
}
