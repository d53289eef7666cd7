package fhirsink

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/crgate/crgate/internal/cfargs"
)

// UnmarshalCaddyfile reads the sink from the audit option's `sink fhir`
// line; the dispenser is on the sink's name:
//
//	sink fhir <base-url> {
//		tls_cert            <file>      # mutual TLS client certificate
//		tls_key             <file>
//		ca                  <file>      # CA(s) for the server's certificate; default system roots
//		server_name         <name>      # default: the URL's host
//		basic_user          <user>
//		basic_password_file <file>      # or: basic_password {env.NAME}
//		bearer_token_file   <file>      # or: bearer_token {env.NAME}
//		method              put|post    # default put (PUT AuditEvent/<id>)
//		timeout             <duration>  # default 30s
//		batch_size          <n>         # events per Bundle, default 100
//		max_bundle_bytes    <n>         # default 4194304
//		dead_letter         <file>      # default under Caddy's data directory
//	}
func (s *Sink) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // sink name
	if !d.NextArg() {
		return d.Err("sink fhir: the FHIR server's base URL is required")
	}
	s.URL = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	fields := cfargs.Fields{
		Strings: map[string]*string{
			"tls_cert":            &s.TLSCertFile,
			"tls_key":             &s.TLSKeyFile,
			"ca":                  &s.CAFile,
			"server_name":         &s.ServerName,
			"basic_user":          &s.BasicUser,
			"basic_password_file": &s.BasicPasswordFile,
			"basic_password":      &s.BasicPassword,
			"bearer_token_file":   &s.BearerTokenFile,
			"bearer_token":        &s.BearerToken,
			"dead_letter":         &s.DeadLetterFile,
			"method":              &s.Method,
		},
		Ints:      map[string]*int{"batch_size": &s.BatchSize, "max_bundle_bytes": &s.MaxBundleBytes},
		Durations: map[string]*caddy.Duration{"timeout": &s.Timeout},
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		known, err := fields.Parse(d)
		if err != nil {
			return err
		}
		if !known {
			return d.Errf("unrecognized subdirective %q", d.Val())
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Sink)(nil)
