package audit

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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
			if err := oneArg(d, &a.SpoolDir); err != nil {
				return err
			}
		case "durability":
			if err := oneArg(d, &a.Durability); err != nil {
				return err
			}
			if a.Durability != DurabilitySync && a.Durability != DurabilityAsync {
				return d.Errf("durability: want sync or async, got %q", a.Durability)
			}
		case "when_full":
			if err := oneArg(d, &a.WhenFull); err != nil {
				return err
			}
			if a.WhenFull != FailClosed && a.WhenFull != FailOpen {
				return d.Errf("when_full: want fail_closed or fail_open, got %q", a.WhenFull)
			}
		case "spool_max_size", "segment_size":
			var s string
			if err := oneArg(d, &s); err != nil {
				return err
			}
			n, err := parseSize(s)
			if err != nil {
				return d.Errf("%s: %v", opt, err)
			}
			if opt == "spool_max_size" {
				a.SpoolMaxSize = n
			} else {
				a.SegmentSize = n
			}
		case "site":
			if err := oneArg(d, &a.Site); err != nil {
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
			var s string
			if err := oneArg(d, &s); err != nil {
				return err
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return d.Errf("batch_size: want a positive integer, got %q", s)
			}
			a.BatchSize = n
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
			var s string
			if err := oneArg(d, &s); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return d.Errf("drain_timeout: want a positive duration, got %q", s)
			}
			a.DrainTimeout = caddy.Duration(dur)
		case "flush_interval", "batch_linger":
			var s string
			if err := oneArg(d, &s); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 || dur > time.Second {
				return d.Errf("%s: want a positive duration up to 1s, got %q", opt, s)
			}
			if opt == "flush_interval" {
				a.FlushInterval = caddy.Duration(dur)
			} else {
				a.BatchLinger = caddy.Duration(dur)
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

// oneArg reads exactly one argument into dst.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	opt := d.Val()
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s: one argument expected", opt)
	}
	return nil
}

// parseSize reads a byte size: a number with an optional unit (B, KB, MB,
// GB, KiB, MiB, GiB; case-insensitive).
func parseSize(s string) (int64, error) {
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') {
		i--
	}
	num, unit := s[:i], strings.ToLower(s[i:])
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive size such as 512MiB, got %q", s)
	}
	mult := map[string]int64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("unknown size unit in %q (want B, KB, MB, GB, KiB, MiB or GiB)", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return n * mult, nil
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
			if err := oneArg(d, &h.Upstream); err != nil {
				return err
			}
		case "max_search_body":
			var s string
			if err := oneArg(d, &s); err != nil {
				return err
			}
			n, err := parseSize(s)
			if err != nil || n > 1<<20 {
				return d.Errf("max_search_body: want a size up to 1MiB, got %q", s)
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
