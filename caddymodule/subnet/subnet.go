// Package subnet provides subnet_guard, an HTTP handler that lets a request
// through only when its client address is in a listed set of IP ranges.
// crgate puts it in front of the registry's admin UIs (OpenCR's /crux and
// /ocrux, HAPI's tester if an operator keeps it), which must be reachable
// from the operators' own networks only.
package subnet

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Guard{})
}

// Guard is subnet_guard: a request passes only if its client address is in
// Ranges; anything else is refused with 403 through Caddy's error handling
// (a *gate.Refusal inside the caddyhttp.HandlerError, for the audit record).
//
// The client address is Caddy's client_ip: the connection's remote address,
// or, when the connection comes from one of the server's trusted_proxies,
// the address the server takes from its client_ip_headers
// (X-Forwarded-For by default). Headers from any other peer are ignored, so
// a client cannot name its own address. An IPv4-mapped IPv6 address
// (::ffff:10.1.2.3) is judged as the IPv4 address it carries, and an IPv6
// zone (%eth0) is dropped before matching. A request without a client
// address, or with one that is not an IP address, is refused.
//
// When the server trusts proxies but not strictly (trusted_proxies_strict
// off), Caddy takes the leftmost forwarded address, which a client behind
// an appending proxy writes itself; subnet_guard therefore refuses a
// request from a trusted proxy whose forwarded chain holds more than one
// address. Turn trusted_proxies_strict on to judge such chains.
type Guard struct {
	// Ranges lists the client addresses allowed in: CIDR prefixes
	// ("10.0.0.0/8", "fd00::/8") or single addresses ("192.0.2.7").
	// IPv4-mapped prefixes (::ffff:10.0.0.0/104) mean their IPv4 form.
	// Required: there is no default, and an empty list refuses to start
	// rather than admit everyone. A prefix with host bits set
	// (10.1.2.3/8) or a zone is refused as ambiguous.
	Ranges []string `json:"ranges,omitempty"`

	// AllowAny acknowledges Ranges that admit every IPv4 or every IPv6
	// address (0.0.0.0/0, ::/0, or prefixes that add up to one of them).
	// Default false: such a list refuses to start, since a guard that
	// admits everyone protects nothing and is usually a mistake.
	AllowAny bool `json:"allow_any,omitempty"`

	ranges *rangeSet
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Guard) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.subnet_guard",
		New: func() caddy.Module { return new(Guard) },
	}
}

// Provision parses Ranges once and registers the metrics.
func (g *Guard) Provision(ctx caddy.Context) error {
	g.logger = ctx.Logger()
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	rs, err := parseRanges(g.Ranges)
	if err != nil {
		return fmt.Errorf("subnet_guard: %w", err)
	}
	g.ranges = rs
	if pub := rs.public(); len(pub) > 0 {
		g.logger.Warn("subnet_guard admits public addresses", zap.Strings("ranges", pub))
	}
	return nil
}

// Validate refuses an empty list and, without AllowAny, a list that admits
// every address of a family.
func (g *Guard) Validate() error {
	if len(g.Ranges) == 0 {
		return errors.New("subnet_guard: ranges is empty: list the client subnets allowed in (e.g. 10.0.0.0/8); " +
			"an empty list is refused, never read as 'allow all'")
	}
	if g.ranges == nil {
		return errors.New("subnet_guard: ranges not provisioned")
	}
	if open := g.ranges.open(); len(open) > 0 {
		if !g.AllowAny {
			return fmt.Errorf("subnet_guard: ranges admit %s: list only the subnets allowed in, "+
				"or set allow_any to acknowledge a guard that lets any address through", strings.Join(open, " and "))
		}
		g.logger.Warn("subnet_guard admits any address (allow_any)", zap.Strings("open", open))
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler. It only decides: the
// allowed path allocates nothing.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.TLS != nil && !r.TLS.HandshakeComplete {
		// TLS early data: the source address is not proven until the
		// handshake completes (as Caddy's remote_ip matcher answers).
		return g.refuse(r, http.StatusTooEarly, reasonTooEarly, "the TLS handshake is not complete; retry after it")
	}
	raw, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	addr, ok := parseClientAddr(raw)
	if !ok {
		return g.refuse(r, http.StatusForbidden, reasonNoAddress, describeMissing(raw))
	}
	if n := ambiguousForwarded(r); n > 1 {
		return g.refuse(r, http.StatusForbidden, reasonAmbiguousForwarded, fmt.Sprintf(
			"a trusted proxy forwarded a chain of %d addresses and the server reads the leftmost, which the client may have written; "+
				"enable trusted_proxies_strict", n))
	}
	if !g.ranges.contains(addr) {
		return g.refuse(r, http.StatusForbidden, reasonNotAllowed, "client address "+addr.String()+" is not in the allowed ranges")
	}
	return next.ServeHTTP(w, r)
}

func (g *Guard) refuse(r *http.Request, status int, reason, detail string) error {
	refusedBy[reason].Inc()
	if ce := g.logger.Check(zap.DebugLevel, "request refused"); ce != nil {
		client, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
		ce.Write(zap.String("reason", reason), zap.String("detail", detail),
			zap.String("client_ip", client), zap.String("remote_addr", r.RemoteAddr), zap.String("path", r.URL.Path))
	}
	return caddyhttp.Error(status, refuse(reason, detail))
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Guard)(nil)
	_ caddy.Validator             = (*Guard)(nil)
	_ caddyhttp.MiddlewareHandler = (*Guard)(nil)
)
