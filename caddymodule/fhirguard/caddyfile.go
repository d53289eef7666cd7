package fhirguard

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	// node_auth orders itself before "map"; fhir_guard does the same after
	// it, which puts fhir_guard right after node_auth only if node_auth's
	// init ran first. Importing it makes that so.
	_ "github.com/crgate/crgate/caddymodule/nodeauth"
	"github.com/crgate/crgate/internal/cfargs"
)

func init() {
	httpcaddyfile.RegisterDirective("fhir_guard", parseFHIRGuard)
	// Right after node_auth, before any handler that could rewrite the
	// path or answer the request.
	httpcaddyfile.RegisterDirectiveOrder("fhir_guard", httpcaddyfile.Before, "map")
}

// parseFHIRGuard parses the fhir_guard directive:
//
//	fhir_guard {
//		base     <path> [<path>...]           # default /fhir
//		profile  hapi|opencr|elasticsearch [...]
//		max_body <size>                       # default 1MiB, e.g. 512KiB
//	}
//
// `fhir_guard` alone guards /fhir with no profile. It takes no request
// matcher: a guard that judged only some requests would let the others
// through unjudged.
func parseFHIRGuard(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	m, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	if m != nil {
		return nil, h.Err("fhir_guard takes no matcher: it must judge every request of the site")
	}
	g := new(Guard)
	if err := g.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return h.NewRoute(nil, g), nil
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler; see parseFHIRGuard.
func (g *Guard) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "base":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			g.Bases = append(g.Bases, args...)
		case "profile":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if _, ok := profiles[a]; !ok {
					return d.Errf("profile: unknown profile %q (known: %s)", a, profileNames())
				}
			}
			g.Profiles = append(g.Profiles, args...)
		case "max_body":
			if err := cfargs.Size(d, &g.MaxBodyBytes, 1<<30); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized subdirective %q", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Guard)(nil)
)
