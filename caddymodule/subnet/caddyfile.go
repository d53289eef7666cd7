package subnet

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("subnet_guard", parseSubnetGuard)
	// Before "map", like node_auth: nothing may answer or reshape the
	// request before the guard has judged it. A plugin can only be ordered
	// against standard directives; Go initialises crgate's packages in
	// import-path order, so node_auth (registered first) stays just before
	// subnet_guard, and the audit handler (before "tracing") outside both.
	httpcaddyfile.RegisterDirectiveOrder("subnet_guard", httpcaddyfile.Before, "map")
}

// parseSubnetGuard parses the subnet_guard directive:
//
//	subnet_guard [<range>...] {
//		ranges <range> [<range>...]
//		allow_any
//	}
//
// A <range> is a CIDR prefix (10.0.0.0/8, fd00::/8), a single address, or
// the keyword private_ranges (10.0.0.0/8 172.16.0.0/12 192.168.0.0/16
// 127.0.0.0/8 ::1/128 fd00::/8). Ranges may be given as arguments, in
// `ranges` lines, or both; at least one is required. allow_any
// acknowledges ranges that admit every IPv4 or IPv6 address, which are
// refused without it.
func parseSubnetGuard(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(Guard)
	err := g.UnmarshalCaddyfile(h.Dispenser)
	return g, err
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler; see parseSubnetGuard.
func (g *Guard) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	g.addRanges(d.RemainingArgs())
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "ranges":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			g.addRanges(args)
		case "allow_any":
			if d.NextArg() {
				return d.ArgErr()
			}
			if g.AllowAny {
				return d.Err("allow_any: given twice")
			}
			g.AllowAny = true
		default:
			return d.Errf("unrecognized subdirective %q", d.Val())
		}
	}
	if len(g.Ranges) == 0 {
		return d.Err("subnet_guard: at least one range is required (e.g. subnet_guard 10.0.0.0/8); an empty list is refused, never read as 'allow all'")
	}
	for i, r := range g.Ranges {
		if _, err := parseRange(r); err != nil {
			return d.Errf("subnet_guard: ranges[%d] %q: %v", i, r, err)
		}
	}
	return nil
}

func (g *Guard) addRanges(args []string) {
	for _, a := range args {
		if a == "private_ranges" {
			g.Ranges = append(g.Ranges, privateRanges...)
			continue
		}
		g.Ranges = append(g.Ranges, a)
	}
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Guard)(nil)
