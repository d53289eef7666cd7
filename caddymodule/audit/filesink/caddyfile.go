package filesink

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile parses the sink inside the audit global option:
//
//	sink file <path> {
//		roll_size           <bytes>     # default 104857600 (100 MiB)
//		roll_interval       <duration>  # default 24h
//		checkpoint_key      <file>      # created if missing
//		checkpoint_interval <duration>  # default 1m
//		checkpoint_lines    <n>         # default 1000
//	}
func (s *Sink) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if !d.NextArg() {
		return d.ArgErr()
	}
	s.Path = d.Val()
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
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "roll_size":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 {
				return d.Errf("roll_size: want a positive number of bytes, got %q", val)
			}
			s.RollSize = n
		case "roll_interval", "checkpoint_interval":
			dur, err := caddy.ParseDuration(val)
			if err != nil || dur <= 0 {
				return d.Errf("%s: want a positive duration, got %q", opt, val)
			}
			if opt == "roll_interval" {
				s.RollInterval = caddy.Duration(dur)
			} else {
				s.CheckpointInterval = caddy.Duration(dur)
			}
		case "checkpoint_key":
			s.CheckpointKey = val
		case "checkpoint_lines":
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return d.Errf("checkpoint_lines: want a positive integer, got %q", val)
			}
			s.CheckpointLines = n
		default:
			return d.Errf("unrecognized subdirective %q", opt)
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Sink)(nil)
