package audit

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/crgate/crgate/internal/cfargs"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("audit", parseAppOption)
	httpcaddyfile.RegisterHandlerDirective("audit", parseHandler)
	// Outermost: before everything else, node_auth included, so that every
	// request is recorded whatever refuses it further in.
	httpcaddyfile.RegisterDirectiveOrder("audit", httpcaddyfile.Before, "tracing")
}

// parseAppOption parses the audit global option:
//
//	audit {
//		spool          <dir>
//		durability     sync|async
//		spool_max_size <size>              # e.g. 1GiB, 500MB, 1048576
//		segment_size   <size>
//		when_full      fail_closed|fail_open
//		site           <name>
//		observer       <id> [<name>]
//		batch_size     <n>
//		retry          <min> <max>
//		drain_timeout  <duration>
//		flush_interval <duration>          # default 50ms, at most 1s
//		batch_linger   <duration>          # default 5ms, at most 1s
//		sink <module> [<args>...] {        # audit.sinks.<module>; repeatable
//			<the sink's own options>
//		}
//	}
func parseAppOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("audit: option given twice")
	}
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "audit", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler; see parseAppOption.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if opt != "sink" && opt != "observer" {
			if seen[opt] {
				return d.Errf("%s: given twice", opt)
			}
			seen[opt] = true
		}
		switch opt {
		case "spool":
			if err := cfargs.String(d, &a.SpoolDir); err != nil {
				return err
			}
		case "durability":
			if err := cfargs.String(d, &a.Durability); err != nil {
				return err
			}
			if a.Durability != DurabilitySync && a.Durability != DurabilityAsync {
				return d.Errf("durability: want sync or async, got %q", a.Durability)
			}
		case "when_full":
			if err := cfargs.String(d, &a.WhenFull); err != nil {
				return err
			}
			if a.WhenFull != FailClosed && a.WhenFull != FailOpen {
				return d.Errf("when_full: want fail_closed or fail_open, got %q", a.WhenFull)
			}
		case "spool_max_size":
			if err := cfargs.Size(d, &a.SpoolMaxSize, 1<<62); err != nil {
				return err
			}
		case "segment_size":
			if err := cfargs.Size(d, &a.SegmentSize, 1<<62); err != nil {
				return err
			}
		case "site":
			if err := cfargs.String(d, &a.Site); err != nil {
				return err
			}
		case "observer":
			if seen["observer"] {
				return d.Err("observer: given twice")
			}
			seen["observer"] = true
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			a.ObserverID = args[0]
			if len(args) == 2 {
				a.ObserverName = args[1]
			}
		case "batch_size":
			if err := cfargs.Int(d, &a.BatchSize); err != nil {
				return err
			}
		case "retry":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			lo, err1 := caddy.ParseDuration(args[0])
			hi, err2 := caddy.ParseDuration(args[1])
			if err1 != nil || err2 != nil || lo <= 0 || hi < lo {
				return d.Errf("retry: want <min> <max> durations with 0 < min ≤ max, got %q %q", args[0], args[1])
			}
			a.RetryMin, a.RetryMax = caddy.Duration(lo), caddy.Duration(hi)
		case "drain_timeout":
			if err := cfargs.Duration(d, &a.DrainTimeout); err != nil {
				return err
			}
		case "flush_interval", "batch_linger":
			dst := &a.FlushInterval
			if opt == "batch_linger" {
				dst = &a.BatchLinger
			}
			if err := cfargs.Duration(d, dst); err != nil {
				return err
			}
			if time.Duration(*dst) > time.Second {
				return d.Errf("%s: want a positive duration up to 1s, got %q", opt, time.Duration(*dst).String())
			}
		case "sink":
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			unm, err := caddyfile.UnmarshalModule(d, "audit.sinks."+name)
			if err != nil {
				return err
			}
			a.SinksRaw = append(a.SinksRaw, caddyconfig.JSONModuleObject(unm, "sink", name, nil))
		default:
			return d.Errf("unrecognized subdirective %q", opt)
		}
	}
	if len(a.SinksRaw) == 0 {
		return d.Err("audit: at least one sink is required, e.g. `sink file /var/log/crgate/audit.jsonl`")
	}
	return nil
}

// parseHandler parses the audit directive:
//
//	audit {
//		upstream        <url>
//		max_search_body <bytes>
//		fhir_base       <path> [<path>...]   # default /fhir
//	}
func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	ah := new(Handler)
	err := ah.UnmarshalCaddyfile(h.Dispenser)
	return ah, err
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler; see parseHandler.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if seen[opt] {
			return d.Errf("%s: given twice", opt)
		}
		seen[opt] = true
		switch opt {
		case "upstream":
			if err := cfargs.String(d, &h.Upstream); err != nil {
				return err
			}
		case "max_search_body":
			var n int64
			if err := cfargs.Size(d, &n, 1<<20); err != nil {
				return err
			}
			h.MaxSearchBody = int(n)
		case "fhir_base":
			h.FHIRBases = d.RemainingArgs()
			if len(h.FHIRBases) == 0 {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized subdirective %q", opt)
		}
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
)
