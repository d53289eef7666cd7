package registryproxy

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/crgate/crgate/internal/cfargs"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("registry_proxy", parseRegistryProxy)
	// Where reverse_proxy runs: last, after every guard.
	httpcaddyfile.RegisterDirectiveOrder("registry_proxy", httpcaddyfile.After, "reverse_proxy")
}

// parseRegistryProxy parses the registry_proxy directive:
//
//	registry_proxy <host:port> {
//		max_idle_conns          <n>
//		idle_timeout            <duration>
//		dial_timeout            <duration>
//		response_header_timeout <duration>
//	}
//
// The upstream may also be written http://host:port.
func parseRegistryProxy(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	p := new(Proxy)
	err := p.UnmarshalCaddyfile(h.Dispenser)
	return p, err
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler; see parseRegistryProxy.
func (p *Proxy) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if !d.NextArg() {
		return d.Err("registry_proxy: the upstream is required (e.g. registry_proxy 127.0.0.1:3000)")
	}
	p.Upstream = d.Val()
	if d.NextArg() {
		return d.Errf("registry_proxy: one upstream only, got another: %q", d.Val())
	}
	if _, err := parseUpstream(p.Upstream); err != nil {
		return d.Errf("registry_proxy: upstream: %v", err)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "max_idle_conns":
			err = cfargs.Int(d, &p.MaxIdleConns)
		case "idle_timeout":
			err = cfargs.Duration(d, &p.IdleTimeout)
		case "dial_timeout":
			err = cfargs.Duration(d, &p.DialTimeout)
		case "response_header_timeout":
			err = cfargs.Duration(d, &p.ResponseHeaderTimeout)
		default:
			err = d.Errf("unrecognized subdirective %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Proxy)(nil)
