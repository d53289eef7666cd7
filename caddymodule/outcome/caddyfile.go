package outcome

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("fhir_outcome", parseOutcome)
	// A terminal handler, ordered with Caddy's own ("respond").
	httpcaddyfile.RegisterDirectiveOrder("fhir_outcome", httpcaddyfile.Before, "respond")
}

// parseOutcome parses the fhir_outcome directive, which takes no
// arguments; use it inside handle_errors:
//
//	handle_errors {
//		fhir_outcome
//	}
func parseOutcome(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	o := new(Handler)
	err := o.UnmarshalCaddyfile(h.Dispenser)
	return o, err
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler; see parseOutcome.
func (*Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(d.Nesting()) {
		return d.Errf("unrecognized subdirective %q", d.Val())
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Handler)(nil)
)
