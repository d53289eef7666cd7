package subnet

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/gate"
)

func newCaddyContext(t testing.TB) caddy.Context {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return ctx
}

// provisioned returns a Guard provisioned and validated from ranges.
func provisioned(t testing.TB, ranges ...string) *Guard {
	t.Helper()
	g := &Guard{Ranges: ranges}
	if err := g.Provision(newCaddyContext(t)); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if err := g.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return g
}

// request is a prepared request whose client_ip is clientIP, as Caddy's
// server would set it.
func request(clientIP string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "https://localhost/crux/", nil)
	req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), httptest.NewRecorder(), nil)
	caddyhttp.SetVar(req.Context(), caddyhttp.ClientIPVarKey, clientIP)
	return req
}

// fromTrustedProxy marks req as coming from a trusted proxy of srv.
func fromTrustedProxy(req *http.Request, srv *caddyhttp.Server) *http.Request {
	caddyhttp.SetVar(req.Context(), caddyhttp.TrustedProxyVarKey, true)
	if srv == nil {
		return req
	}
	return req.WithContext(context.WithValue(req.Context(), caddyhttp.ServerCtxKey, srv))
}

func TestServeHTTP(t *testing.T) {
	g := provisioned(t, "127.0.0.1/32", "10.0.0.0/8", "fd00::/8")
	xff := &caddyhttp.Server{ClientIPHeaders: []string{"X-Forwarded-For"}}
	xffStrict := &caddyhttp.Server{ClientIPHeaders: []string{"X-Forwarded-For"}, TrustedProxiesStrict: 1}
	twoHeaders := &caddyhttp.Server{ClientIPHeaders: []string{"X-Forwarded-For", "X-Real-Ip"}}
	tests := []struct {
		name   string
		req    func() *http.Request
		status int    // 0: passed on
		reason string // the Refusal's reason
		detail string // a substring of its detail
	}{
		{"ok/ipv4", func() *http.Request { return request("127.0.0.1") }, 0, "", ""},
		{"ok/ipv4-in-net", func() *http.Request { return request("10.9.8.7") }, 0, "", ""},
		{"ok/ipv6", func() *http.Request { return request("fd00::1") }, 0, "", ""},
		{"ok/ipv4-mapped", func() *http.Request { return request("::ffff:10.1.2.3") }, 0, "", ""},
		{"ok/ipv4-mapped-hex", func() *http.Request { return request("::ffff:a01:203") }, 0, "", ""},
		{"ok/ipv6-zone-dropped", func() *http.Request { return request("fd00::1%eth0") }, 0, "", ""},
		{"ok/mapped-with-zone", func() *http.Request { return request("::ffff:127.0.0.1%lo") }, 0, "", ""},
		{"ok/trusted-proxy-one-forwarded", func() *http.Request {
			r := fromTrustedProxy(request("10.1.1.1"), xff)
			r.Header.Set("X-Forwarded-For", "10.1.1.1")
			return r
		}, 0, "", ""},
		{"ok/trusted-proxy-strict-chain", func() *http.Request {
			r := fromTrustedProxy(request("10.1.1.1"), xffStrict)
			r.Header.Set("X-Forwarded-For", "127.0.0.1, 10.1.1.1")
			return r
		}, 0, "", ""},
		{"ok/untrusted-peer-headers-not-counted", func() *http.Request {
			r := request("10.1.1.1")
			r.Header.Set("X-Forwarded-For", "1.2.3.4, 5.6.7.8")
			return r
		}, 0, "", ""},
		{"fail/ipv4-outside", func() *http.Request { return request("127.0.0.2") }, 403, reasonNotAllowed, "client address 127.0.0.2 is not in the allowed ranges"},
		{"fail/ipv6-loopback-not-listed", func() *http.Request { return request("::1") }, 403, reasonNotAllowed, "::1"},
		{"fail/ipv4-mapped-outside", func() *http.Request { return request("::ffff:11.0.0.1") }, 403, reasonNotAllowed, "11.0.0.1"},
		{"fail/zone-outside", func() *http.Request { return request("fe80::1%eth0") }, 403, reasonNotAllowed, "fe80::1"},
		{"fail/no-address", func() *http.Request { return request("") }, 403, reasonNoAddress, "no client address"},
		{"fail/no-var", func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "https://localhost/crux/", nil)
		}, 403, reasonNoAddress, "no client address"},
		{"fail/unix-socket", func() *http.Request { return request("@") }, 403, reasonNoAddress, `"@" is not an IP address`},
		{"fail/garbage", func() *http.Request { return request("not-an-ip") }, 403, reasonNoAddress, "not an IP address"},
		{"fail/with-port", func() *http.Request { return request("127.0.0.1:1234") }, 403, reasonNoAddress, "not an IP address"},
		{"fail/only-zone", func() *http.Request { return request("%eth0") }, 403, reasonNoAddress, "not an IP address"},
		{"fail/cidr-as-address", func() *http.Request { return request("10.0.0.0/8") }, 403, reasonNoAddress, "not an IP address"},
		{"fail/spaces", func() *http.Request { return request(" 127.0.0.1") }, 403, reasonNoAddress, "not an IP address"},
		{"fail/trusted-proxy-appended-chain", func() *http.Request {
			r := fromTrustedProxy(request("127.0.0.1"), xff)
			r.Header.Set("X-Forwarded-For", "127.0.0.1, 203.0.113.9")
			return r
		}, 403, reasonAmbiguousForwarded, "chain of 2 addresses"},
		{"fail/trusted-proxy-repeated-header", func() *http.Request {
			r := fromTrustedProxy(request("127.0.0.1"), xff)
			r.Header.Add("X-Forwarded-For", "127.0.0.1")
			r.Header.Add("X-Forwarded-For", "203.0.113.9")
			return r
		}, 403, reasonAmbiguousForwarded, "chain of 2 addresses"},
		{"fail/trusted-proxy-two-headers", func() *http.Request {
			r := fromTrustedProxy(request("127.0.0.1"), twoHeaders)
			r.Header.Set("X-Forwarded-For", "127.0.0.1")
			r.Header.Set("X-Real-Ip", "203.0.113.9")
			return r
		}, 403, reasonAmbiguousForwarded, "chain of 2 addresses"},
		{"fail/trusted-without-server", func() *http.Request {
			return fromTrustedProxy(request("127.0.0.1"), nil)
		}, 403, reasonAmbiguousForwarded, ""},
		{"fail/tls-early-data", func() *http.Request {
			r := request("127.0.0.1")
			r.TLS = &tls.ConnectionState{HandshakeComplete: false}
			return r
		}, 425, reasonTooEarly, "not complete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			before := testutil.ToFloat64(refused.WithLabelValues(orNone(tt.reason)))
			called := false
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
				called = true
				return nil
			})
			err := g.ServeHTTP(httptest.NewRecorder(), req, next)
			if tt.status == 0 {
				if err != nil || !called {
					t.Fatalf("err = %v, next called = %v; want passed on", err, called)
				}
				return
			}
			if called {
				t.Fatal("next was called for a refused request")
			}
			var he caddyhttp.HandlerError
			if !errors.As(err, &he) || he.StatusCode != tt.status {
				t.Fatalf("err = %#v, want a HandlerError with status %d", err, tt.status)
			}
			var ref *gate.Refusal
			if !errors.As(err, &ref) || ref.Module != "subnet_guard" || ref.Reason != tt.reason || !strings.Contains(ref.Detail, tt.detail) {
				t.Fatalf("refusal = %+v, want reason %q and detail containing %q", ref, tt.reason, tt.detail)
			}
			if after := testutil.ToFloat64(refused.WithLabelValues(tt.reason)); after != before+1 {
				t.Errorf("refused_total{reason=%q} went from %v to %v", tt.reason, before, after)
			}
		})
	}
}

func orNone(reason string) string {
	if reason == "" {
		return "none"
	}
	return reason
}

// TestServeHTTPAllocationFree holds the promise that deciding costs no
// allocation on the allowed path.
func TestServeHTTPAllocationFree(t *testing.T) {
	g := provisioned(t, "10.0.0.0/8", "192.168.0.0/16", "fd00::/8")
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()
	for _, ip := range []string{"192.168.3.4", "fd00::7", "::ffff:10.1.2.3", "fd00::7%eth0"} {
		req := request(ip)
		allocs := testing.AllocsPerRun(200, func() {
			if err := g.ServeHTTP(w, req, next); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per request, want 0", ip, allocs)
		}
	}
}

func TestProvisionAndValidate(t *testing.T) {
	tests := []struct {
		name     string
		guard    Guard
		wantErr  string // "" for success
		provFail bool   // the error comes from Provision
	}{
		{"ok/private", Guard{Ranges: privateRanges}, "", false},
		{"ok/any-acknowledged", Guard{Ranges: []string{"0.0.0.0/0", "::/0"}, AllowAny: true}, "", false},
		{"fail/nil", Guard{}, "subnet_guard: ranges is empty", false},
		{"fail/empty", Guard{Ranges: []string{}}, "subnet_guard: ranges is empty", false},
		{"fail/empty-with-allow-any", Guard{AllowAny: true}, "subnet_guard: ranges is empty", false},
		{"fail/ipv4-any", Guard{Ranges: []string{"10.0.0.0/8", "0.0.0.0/0"}}, "subnet_guard: ranges admit every IPv4 address (0.0.0.0/0)", false},
		{"fail/ipv6-any", Guard{Ranges: []string{"::/0"}}, "every IPv6 address (::/0)", false},
		{"fail/split-any", Guard{Ranges: []string{"0.0.0.0/1", "128.0.0.0/1"}}, "allow_any", false},
		{"fail/malformed", Guard{Ranges: []string{"10.0.0.0/8", "10.0.0.0/40"}}, `subnet_guard: ranges[1] "10.0.0.0/40"`, true},
		{"fail/empty-entry", Guard{Ranges: []string{""}}, `subnet_guard: ranges[0] "": empty range`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.guard
			err := g.Provision(newCaddyContext(t))
			if tt.provFail {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Provision err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Provision: %v", err)
			}
			err = g.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func BenchmarkServeHTTP(b *testing.B) {
	g := provisioned(b, privateRanges...)
	g.logger = zap.NewNop() // the refusal's Debug line is not what is measured
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()
	for _, bc := range []struct{ name, ip string }{
		{"allowed-ipv4", "192.168.3.4"},
		{"allowed-ipv6", "fd00::7"},
		{"allowed-mapped", "::ffff:10.1.2.3"},
		{"refused-ipv4", "203.0.113.9"},
	} {
		req := request(bc.ip)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = g.ServeHTTP(w, req, next)
			}
		})
	}
}
