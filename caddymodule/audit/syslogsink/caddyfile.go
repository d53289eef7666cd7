package syslogsink

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/crgate/crgate/internal/cfargs"
)

// UnmarshalCaddyfile reads the sink from the audit option's `sink syslog`
// line; the dispenser is on the sink's name:
//
//	sink syslog tls://<host>[:<port>] {      # port default 6514
//		tls_cert         <file>      # client certificate (mutual TLS)
//		tls_key          <file>
//		ca               <file>      # CA(s) for the collector's certificate; default system roots
//		server_name      <name>      # default: the address's host
//		facility         <0-23>      # default 10
//		severity         <0-7>       # default 5  → PRI <85>
//		hostname         <name>      # default: the machine's host name
//		app_name         <name>      # default crgate
//		procid           <id>        # default: the process id
//		msgid            <id>        # default AuditEvent
//		bom                          # prefix MSG with the UTF-8 BOM
//		max_message_size <octets>    # default 32768
//		dial_timeout     <duration>  # default 10s
//		write_timeout    <duration>  # default 30s
//		dead_letter      <file>      # default under Caddy's data directory
//	}
func (s *Sink) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // sink name
	if !d.NextArg() {
		return d.Err("sink syslog: the collector's address (tls://host:port) is required")
	}
	addr, err := normalizeAddress(d.Val())
	if err != nil {
		return d.Err(err.Error())
	}
	s.Address = addr
	if d.NextArg() {
		return d.ArgErr()
	}
	fields := cfargs.Fields{
		Strings: map[string]*string{
			"tls_cert":    &s.TLSCertFile,
			"tls_key":     &s.TLSKeyFile,
			"ca":          &s.CAFile,
			"server_name": &s.ServerName,
			"hostname":    &s.Hostname,
			"app_name":    &s.AppName,
			"procid":      &s.ProcID,
			"msgid":       &s.MsgID,
			"dead_letter": &s.DeadLetterFile,
		},
		Ints:      map[string]*int{"max_message_size": &s.MaxMessageSize},
		Durations: map[string]*caddy.Duration{"dial_timeout": &s.DialTimeout, "write_timeout": &s.WriteTimeout},
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch name := d.Val(); name {
		case "facility", "severity":
			if err := s.parsePRIPart(d, name); err != nil {
				return err
			}
		case "bom":
			if s.BOM {
				return d.Err("bom: given twice")
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			s.BOM = true
		default:
			known, err := fields.Parse(d)
			if err != nil {
				return err
			}
			if !known {
				return d.Errf("unrecognized subdirective %q", name)
			}
		}
	}
	return nil
}

// parsePRIPart reads facility or severity (0 is a valid value).
func (s *Sink) parsePRIPart(d *caddyfile.Dispenser, name string) error {
	dst := &s.Facility
	if name == "severity" {
		dst = &s.Severity
	}
	if *dst != nil {
		return d.Errf("%s: given twice", name)
	}
	var v string
	if err := cfargs.String(d, &v); err != nil {
		return err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return d.Errf("%s: want a number, got %q", name, v)
	}
	*dst = &n
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Sink)(nil)
