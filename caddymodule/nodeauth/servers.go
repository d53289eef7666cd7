package nodeauth

import (
	"errors"
	"fmt"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// httpServers returns the configuration's HTTP servers (none without an
// http app), for the checks node_registry makes when it starts.
func httpServers(ctx caddy.Context) (map[string]*caddyhttp.Server, error) {
	appIface, err := ctx.AppIfConfigured("http")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checking the HTTP servers: %w", err)
	}
	app, ok := appIface.(*caddyhttp.App)
	if !ok {
		return nil, fmt.Errorf("checking the HTTP servers: http app is %T", appIface)
	}
	return app.Servers, nil
}

// serverNames are the servers' names in order, so that checks and their
// errors come out the same on every start.
func serverNames(servers map[string]*caddyhttp.Server) []string {
	names := make([]string, 0, len(servers))
	for name := range servers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
