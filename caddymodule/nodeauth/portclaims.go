package nodeauth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/portclaim"
)

// claimServerPorts claims every TCP port the HTTP servers listen on for
// this process, so that a second crgate on one of them refuses to start
// rather than share it (internal/portclaim: Caddy's listeners set
// SO_REUSEPORT, and the kernel would split the port's connections between
// two configurations). It claims all or none and returns the release of
// all the claims. A claim name another user's process holds (that process cannot
// share the port) and a claim that cannot be made at all are logged and
// passed over.
func claimServerPorts(servers map[string]*caddyhttp.Server, logger *zap.Logger) (func(), error) {
	var releases []func()
	release := func() {
		for _, r := range releases {
			r()
		}
	}
	repl := caddy.NewReplacer()
	for _, name := range serverNames(servers) {
		for _, addr := range servers[name].Listen {
			na, err := caddy.ParseNetworkAddress(repl.ReplaceKnown(addr, ""))
			if err != nil || !strings.HasPrefix(na.Network, "tcp") {
				continue // Caddy refuses a bad address itself; unix sockets have no port
			}
			for port := na.StartPort; port <= na.EndPort; port++ {
				r, err := portclaim.Claim(port)
				if errors.Is(err, portclaim.ErrClaimed) {
					release()
					return nil, fmt.Errorf("server %s, listen %s: another crgate already serves %w; stop it first (two gateways on one port would split its connections between two configurations)", name, addr, err)
				}
				if err != nil {
					// Another user's name (ErrForeign) or no claims at all
					// (ErrUnavailable): the guard is not what may stop a start.
					logger.Warn("listen port not claimed; a second crgate on it would not be refused",
						zap.String("server", name), zap.String("listen", addr), zap.Uint("port", port), zap.Error(err))
					continue
				}
				releases = append(releases, r)
			}
		}
	}
	return release, nil
}
