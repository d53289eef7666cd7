package subnet

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// parseClientAddr parses Caddy's client_ip value: the zone, if any, is
// dropped (it names the interface the packet arrived on, not the client)
// and an IPv4-mapped address is unwrapped, so ::ffff:10.1.2.3 is judged as
// 10.1.2.3. It allocates nothing.
func parseClientAddr(s string) (netip.Addr, bool) {
	if i := strings.IndexByte(s, '%'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// describeMissing says why raw is no client address, for the refusal.
func describeMissing(raw string) string {
	if raw == "" {
		return "the request has no client address"
	}
	return "the client address " + strconv.Quote(raw) + " is not an IP address"
}

// ambiguousForwarded returns how many forwarded addresses a request from a
// trusted proxy carries when the server reads them leftmost-first
// (trusted_proxies_strict off), and 0 otherwise. Above one, the address
// Caddy took could be one the client wrote before its proxy appended the
// real one.
func ambiguousForwarded(r *http.Request) int {
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); !trusted {
		return 0
	}
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok || srv == nil {
		// Trusted, but the server's mode is unknown: treat it as the
		// unsafe one.
		return 2
	}
	if srv.TrustedProxiesStrict > 0 {
		return 0
	}
	n := 0
	for _, h := range srv.ClientIPHeaders {
		for _, v := range r.Header.Values(h) {
			n += strings.Count(v, ",") + 1
		}
	}
	return n
}
