package nodeauth

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("node_registry", parseRegistryOption)
	httpcaddyfile.RegisterHandlerDirective("node_auth", parseNodeAuth)
	// Before any handler that could answer or reshape the request; the
	// audit handler (before "tracing") stays outside it.
	httpcaddyfile.RegisterDirectiveOrder("node_auth", httpcaddyfile.Before, "map")
}

// parseRegistryOption parses the node_registry global option:
//
//	node_registry {
//		clients         <file>
//		crl             <file> [<file>...]
//		ca              <file>
//		reload_interval <duration>
//	}
//
// or the short form `node_registry <clients-file>`.
func parseRegistryOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("node_registry: option given twice")
	}
	reg := new(Registry)
	if err := reg.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{
		Name:  "node_registry",
		Value: caddyconfig.JSON(reg, nil),
	}, nil
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler; see
// parseRegistryOption for the syntax.
func (r *Registry) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		r.ClientsFile = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "clients":
			if r.ClientsFile != "" {
				return d.Err("clients: given twice")
			}
			if !d.NextArg() {
				return d.ArgErr()
			}
			r.ClientsFile = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "crl":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			r.CRLFiles = append(r.CRLFiles, args...)
		case "ca":
			if r.CAFile != "" {
				return d.Err("ca: given twice")
			}
			if !d.NextArg() {
				return d.ArgErr()
			}
			r.CAFile = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "reload_interval":
			if r.ReloadInterval != 0 {
				return d.Err("reload_interval: given twice")
			}
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("reload_interval: %v", err)
			}
			if dur <= 0 {
				return d.Errf("reload_interval: must be positive, got %s", time.Duration(dur))
			}
			r.ReloadInterval = caddy.Duration(dur)
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized subdirective %q", d.Val())
		}
	}
	if r.ClientsFile == "" {
		return d.Err("node_registry: clients <file> is required")
	}
	return nil
}

// parseNodeAuth parses the node_auth directive:
//
//	node_auth {
//		strip_header <name|prefix*> [<name|prefix*>...]
//	}
func parseNodeAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	na := new(Handler)
	err := na.UnmarshalCaddyfile(h.Dispenser)
	return na, err
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler; see parseNodeAuth.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "strip_header":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if _, err := parseHeaderPattern(a); err != nil {
					return d.Errf("strip_header: %v", err)
				}
			}
			h.StripHeaders = append(h.StripHeaders, args...)
		default:
			return d.Errf("unrecognized subdirective %q", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Registry)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
)
