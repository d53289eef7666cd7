package adminauth

import (
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("admin_login", parseAdminLogin)
	// After subnet_guard (registered before "map"): the address check
	// comes first, then the person; both before any handler that answers.
	httpcaddyfile.RegisterDirectiveOrder("admin_login", httpcaddyfile.After, "map")
}

// parseAdminLogin parses the admin_login directive:
//
//	admin_login {
//		store sqlite <path>
//		store postgres env <VAR> | file <path>     # the DSN stays out of the config
//		pepper_file <path>   | pepper_env <VAR>
//		totp_key_file <path> | totp_key_env <VAR>
//		idle_timeout     <duration>                # default 30m
//		max_lifetime     <duration>                # default 8h
//		lockout          <failures> <duration>     # default 3 1h
//		throttle         <failures> <window>       # per client address, default 20 15m
//		enrolment_ttl    <duration>                # default 24h
//		bcrypt_cost      <10..16>                  # default 11
//		issuer           <name>                    # default crgate
//		history_interval <duration>                # default 2s
//	}
func parseAdminLogin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	al := new(Handler)
	err := al.UnmarshalCaddyfile(h.Dispenser)
	return al, err
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler; see parseAdminLogin.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		key := opt
		switch opt {
		case "pepper_file", "pepper_env":
			key = "pepper"
		case "totp_key_file", "totp_key_env":
			key = "totp_key"
		}
		if seen[key] {
			return d.Errf("%s: given twice", key)
		}
		seen[key] = true
		args := d.RemainingArgs()
		one := func() (string, error) {
			if len(args) != 1 {
				return "", d.ArgErr()
			}
			return args[0], nil
		}
		dur := func(s string) (caddy.Duration, error) {
			v, err := caddy.ParseDuration(s)
			if err != nil {
				return 0, d.Errf("%s: %v", opt, err)
			}
			if v <= 0 {
				return 0, d.Errf("%s: must be positive, got %s", opt, time.Duration(v))
			}
			return caddy.Duration(v), nil
		}
		count := func(s string) (int, error) {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				return 0, d.Errf("%s: %q is not a positive count", opt, s)
			}
			return n, nil
		}
		var err error
		var v string
		switch opt {
		case "store":
			switch {
			case len(args) == 2 && args[0] == "sqlite":
				h.Store = StoreConfig{Driver: "sqlite", Path: args[1]}
			case len(args) == 3 && args[0] == "postgres" && args[1] == "env":
				h.Store = StoreConfig{Driver: "postgres", DSNEnv: args[2]}
			case len(args) == 3 && args[0] == "postgres" && args[1] == "file":
				h.Store = StoreConfig{Driver: "postgres", DSNFile: args[2]}
			default:
				return d.Err("store: want `sqlite <path>`, `postgres env <VAR>` or `postgres file <path>`")
			}
		case "pepper_file", "pepper_env", "totp_key_file", "totp_key_env":
			v, err = one()
			*map[string]*string{"pepper_file": &h.Pepper.File, "pepper_env": &h.Pepper.Env,
				"totp_key_file": &h.TOTPKey.File, "totp_key_env": &h.TOTPKey.Env}[opt] = v
		case "idle_timeout", "max_lifetime", "enrolment_ttl", "history_interval":
			if v, err = one(); err != nil {
				return err
			}
			var dv caddy.Duration
			if dv, err = dur(v); err != nil {
				return err
			}
			*map[string]*caddy.Duration{"idle_timeout": &h.IdleTimeout, "max_lifetime": &h.MaxLifetime,
				"enrolment_ttl": &h.EnrolmentTTL, "history_interval": &h.HistoryInterval}[opt] = dv
		case "lockout", "throttle":
			if len(args) != 2 {
				return d.ArgErr()
			}
			n, err := count(args[0])
			if err != nil {
				return err
			}
			dv, err := dur(args[1])
			if err != nil {
				return err
			}
			if opt == "lockout" {
				h.LockoutFailures, h.LockoutDuration = n, dv
			} else {
				h.AddrFailures, h.AddrWindow = n, dv
			}
		case "bcrypt_cost":
			if v, err = one(); err != nil {
				return err
			}
			n, cerr := strconv.Atoi(v)
			if cerr != nil || n < 10 || n > 16 {
				return d.Errf("bcrypt_cost: %q outside 10..16", v)
			}
			h.BcryptCost = n
		case "issuer":
			v, err = one()
			h.Issuer = v
		default:
			return d.Errf("unrecognized subdirective %q", opt)
		}
		if err != nil {
			return err
		}
	}
	if h.Store.Driver == "" {
		return d.Err("admin_login: store is required")
	}
	if !seen["pepper"] {
		return d.Err("admin_login: pepper_file or pepper_env is required")
	}
	if !seen["totp_key"] {
		return d.Err("admin_login: totp_key_file or totp_key_env is required")
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Handler)(nil)
