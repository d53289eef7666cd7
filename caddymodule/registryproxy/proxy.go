// Package registryproxy provides registry_proxy, the handler that forwards
// an admitted request to the registry (OpenCR's FHIR service or HAPI) and
// relays the answer.
//
// It does less than Caddy's reverse_proxy on purpose. The registry door has
// one plain-HTTP upstream on loopback or a private network, so there is no
// load balancing, health checking, upstream TLS, header rewriting or
// WebSocket upgrade to pay for. What remains runs in the request's own
// goroutine: the request head is written with one system call on a pooled
// keep-alive connection, and net/http's own parser reads the answer. With
// reverse_proxy, every request also crossed two transport goroutines and
// built a per-request logger holding the whole request and its TLS state,
// even with debug logging off (docs/performance.md).
package registryproxy

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Proxy{})
}

// Defaults of the tunable fields.
const (
	defaultMaxIdleConns          = 256
	defaultIdleTimeout           = 4 * time.Second
	defaultDialTimeout           = 5 * time.Second
	defaultResponseHeaderTimeout = 2 * time.Minute
)

// upstreamPlaceholder is where the upstream address is published for the
// request; it is reverse_proxy's name, which the audit handler reads.
const upstreamPlaceholder = "http.reverse_proxy.upstream.hostport"

// Proxy is registry_proxy: it forwards every request that reaches it to
// Upstream over HTTP/1.1 and relays the response.
//
// What the upstream receives: the method, the request target as the route
// left it (fhir_guard's canonical path and the query), the Host the client
// asked for, and the client's headers without hop-by-hop headers, without
// Expect, without any forwarding or client-address header the client sent
// (Forwarded, X-Forwarded-*, X-Real-Ip and the like) and without the
// headers frameworks read a second URL from (X-Original-Url…), in either
// '-' or '_' spelling; the gateway's own X-Forwarded-For (Caddy's
// client_ip, which honours the server's trusted_proxies),
// X-Forwarded-Proto and X-Forwarded-Host replace them. A body is sent with
// its Content-Length, or chunked when the client gave none (HTTP/2).
//
// Refused, never forwarded: CONNECT and protocol upgrades (400), request
// targets with control characters or spaces (400). An upstream that cannot
// be reached or answers garbage is a 502 through Caddy's error handling; a
// response that breaks off after its head was relayed is aborted (the
// client's connection or stream is reset), so a truncated answer is never
// taken for a whole one. Response trailers are dropped.
type Proxy struct {
	// Upstream is the registry's address, host:port (an http:// prefix is
	// accepted; https and paths are refused: the upstream is reached over
	// plain HTTP on loopback or a private network). Required.
	Upstream string `json:"upstream,omitempty"`

	// MaxIdleConns is how many idle keep-alive connections to the
	// upstream are kept for reuse. Default 256: at least the number of
	// requests in flight at peak, or new connections are opened and
	// closed under load.
	MaxIdleConns int `json:"max_idle_conns,omitempty"`

	// IdleTimeout closes a connection that has been idle this long
	// instead of reusing it. Default 4s, below Node's 5s keep-alive
	// timeout, so a request never goes out on a connection OpenCR is
	// closing.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`

	// DialTimeout bounds connecting to the upstream. Default 5s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// ResponseHeaderTimeout bounds the time from sending the request to
	// the end of the response head (OpenCR's matching can be slow).
	// Default 2m; past it the request fails with 504.
	ResponseHeaderTimeout caddy.Duration `json:"response_header_timeout,omitempty"`

	addr string // host:port
	// addrValue is addr boxed once for the placeholder: an interface made
	// from a string allocates.
	addrValue any
	pool      *pool
	logger    *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Proxy) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.registry_proxy",
		New: func() caddy.Module { return new(Proxy) },
	}
}

// Provision applies the defaults and sets up the connection pool.
func (p *Proxy) Provision(ctx caddy.Context) error {
	p.logger = ctx.Logger()
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	return p.setup()
}

// setup applies the defaults, validates and makes the pool.
func (p *Proxy) setup() error {
	addr, err := parseUpstream(p.Upstream)
	if err != nil {
		return fmt.Errorf("registry_proxy: upstream: %w", err)
	}
	p.addr, p.addrValue = addr, addr
	if p.MaxIdleConns == 0 {
		p.MaxIdleConns = defaultMaxIdleConns
	}
	if p.IdleTimeout == 0 {
		p.IdleTimeout = caddy.Duration(defaultIdleTimeout)
	}
	if p.DialTimeout == 0 {
		p.DialTimeout = caddy.Duration(defaultDialTimeout)
	}
	if p.ResponseHeaderTimeout == 0 {
		p.ResponseHeaderTimeout = caddy.Duration(defaultResponseHeaderTimeout)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	p.pool = newPool(addr, p.MaxIdleConns, time.Duration(p.IdleTimeout), time.Duration(p.DialTimeout))
	return nil
}

// Validate refuses values that cannot mean anything.
func (p *Proxy) Validate() error {
	switch {
	case p.MaxIdleConns < 0:
		return fmt.Errorf("registry_proxy: max_idle_conns %d: must not be negative", p.MaxIdleConns)
	case p.IdleTimeout < 0:
		return fmt.Errorf("registry_proxy: idle_timeout %s: must be positive", time.Duration(p.IdleTimeout))
	case p.DialTimeout < 0:
		return fmt.Errorf("registry_proxy: dial_timeout %s: must be positive", time.Duration(p.DialTimeout))
	case p.ResponseHeaderTimeout < 0:
		return fmt.Errorf("registry_proxy: response_header_timeout %s: must be positive", time.Duration(p.ResponseHeaderTimeout))
	}
	return nil
}

// Cleanup closes the idle connections; connections of requests still in
// flight are closed when those requests end.
func (p *Proxy) Cleanup() error {
	if p.pool != nil {
		p.pool.close()
	}
	return nil
}

// parseUpstream accepts host:port or http://host:port and returns
// host:port.
func parseUpstream(s string) (string, error) {
	if s == "" {
		return "", errors.New("required (e.g. 127.0.0.1:3000)")
	}
	if strings.ContainsAny(s, "{}") {
		return "", fmt.Errorf("%q: placeholders are not supported: the upstream is fixed at load", s)
	}
	addr := s
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		if scheme != "http" {
			return "", fmt.Errorf("%q: only plain http upstreams are supported (use reverse_proxy for %s)", s, scheme)
		}
		addr = rest
	}
	if strings.ContainsAny(addr, "/?#@ ") {
		return "", fmt.Errorf("%q: want host:port, with no path, query or user", s)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q: %v", s, err)
	}
	if host == "" {
		return "", fmt.Errorf("%q: no host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port %q: want 1..65535", s, port)
	}
	return addr, nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Proxy)(nil)
	_ caddy.Validator             = (*Proxy)(nil)
	_ caddy.CleanerUpper          = (*Proxy)(nil)
	_ caddyhttp.MiddlewareHandler = (*Proxy)(nil)
)
