package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// adminClient is a client of an admin site on port that connects from the
// loopback address local (on Linux all of 127.0.0.0/8 is on lo), so a test
// can choose the source address the gateway sees. It presents no client
// certificate: the admin site asks for none.
func adminClient(t testing.TB, port int, local string, opts ...clientOption) *http.Client {
	t.Helper()
	ip := net.ParseIP(local)
	if ip == nil {
		t.Fatalf("bad local address %q", local)
	}
	target := fmt.Sprintf("127.0.0.1:%d", port)
	if ip.To4() == nil {
		target = fmt.Sprintf("[::1]:%d", port)
	}
	cfg := &tls.Config{RootCAs: fixtures.caPool, ServerName: "localhost"}
	dialer := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}
	tr := &http.Transport{
		TLSClientConfig:   cfg,
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", target)
		},
	}
	for _, o := range opts {
		o(cfg, tr)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

func adminURL(port int, path string) string {
	return fmt.Sprintf("https://localhost:%d%s", port, path)
}

// adminRequest sends one request from local to the admin site on port and
// returns the status and how many requests reached the simulator meanwhile.
func adminRequest(t *testing.T, s *simulator, port int, local, method, path string, header http.Header, opts ...clientOption) (int, string, int) {
	t.Helper()
	before := len(s.records(t))
	req, err := http.NewRequest(method, adminURL(port, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := adminClient(t, port, local, opts...).Do(req)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", method, path, local, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s from %s: reading the body: %v", method, path, local, err)
	}
	return resp.StatusCode, string(body), len(s.records(t)) - before
}

// spoofHeaders are every header some proxy or framework reads a client
// address from, each claiming the allowed address.
var spoofHeaders = map[string]string{
	"X-Forwarded-For":     "127.0.0.1",
	"Forwarded":           "for=127.0.0.1;proto=https",
	"X-Real-Ip":           "127.0.0.1",
	"True-Client-Ip":      "127.0.0.1",
	"X-Client-Ip":         "127.0.0.1",
	"Cf-Connecting-Ip":    "127.0.0.1",
	"X-Cluster-Client-Ip": "127.0.0.1",
	"X-Originating-Ip":    "127.0.0.1",
	"Client-Ip":           "127.0.0.1",
	"X-Forwarded":         "for=127.0.0.1",
	"Fastly-Client-Ip":    "127.0.0.1",
}

// TestAdminSiteAdmitsOnlyListedSubnets runs the repository's Caddyfile
// with the admin site open to 127.0.0.1 and to 127.0.0.4 (written as the
// IPv4-mapped ::ffff:127.0.0.4), and tries it from elsewhere on loopback.
func TestAdminSiteAdmitsOnlyListedSubnets(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{env: map[string]string{"CRGATE_ADMIN_SUBNETS": "127.0.0.1/32 ::ffff:127.0.0.4"}})
	refusals := 0
	// Past subnet_guard, admin_login wants a person's session.
	session := devAdminSession(t, g)

	t.Run("allowed-without-login", func(t *testing.T) {
		for _, local := range []string{"127.0.0.1", "127.0.0.4"} {
			// (The client follows the redirect to the login page.)
			status, body, reached := adminRequest(t, g.sim, g.adminSite, local, http.MethodGet, "/crux/", nil)
			if status != http.StatusOK || !strings.Contains(body, `action="/_crgate/login"`) || reached != 0 {
				t.Fatalf("GET /crux/ from %s without a session: status %d, reached %d, body %.100q; want the login page", local, status, reached, body)
			}
		}
	})

	t.Run("allowed", func(t *testing.T) {
		bothProtocols(t, func(t *testing.T, proto clientOption) {
			for _, local := range []string{"127.0.0.1", "127.0.0.4"} {
				status, body, reached := adminRequest(t, g.sim, g.adminSite, local, http.MethodGet, "/crux/", session, proto)
				if status != http.StatusOK || !strings.Contains(body, "OpenCR admin UI") || reached != 1 {
					t.Fatalf("GET /crux/ from %s: status %d, reached %d, body %.100q; want 200 from the simulator", local, status, reached, body)
				}
			}
			status, body, reached := adminRequest(t, g.sim, g.adminSite, "127.0.0.1", http.MethodPost, "/ocrux/user/authenticate", session, proto)
			if status != http.StatusOK || !strings.Contains(body, `"token"`) || reached != 1 {
				t.Fatalf("POST /ocrux/user/authenticate: status %d, reached %d, body %.100q", status, reached, body)
			}
		})
	})

	t.Run("other-loopback-addresses", func(t *testing.T) {
		bothProtocols(t, func(t *testing.T, proto clientOption) {
			for _, local := range []string{"127.0.0.2", "127.0.0.3", "127.1.2.3", "127.255.255.254", "::1"} {
				for _, path := range []string{"/crux/", "/ocrux/user/authenticate", "/fhir/Patient"} {
					status, body, reached := adminRequest(t, g.sim, g.adminSite, local, http.MethodGet, path, nil, proto)
					refusals++
					if status != http.StatusForbidden || reached != 0 || strings.Contains(body, "OpenCR") {
						t.Fatalf("GET %s from %s: status %d, reached %d; want 403 and nothing upstream", path, local, status, reached)
					}
				}
			}
		})
	})

	t.Run("spoofed-forwarding-headers", func(t *testing.T) {
		bothProtocols(t, func(t *testing.T, proto clientOption) {
			all := http.Header{}
			for name, v := range spoofHeaders {
				all[name] = []string{v}
				status, _, reached := adminRequest(t, g.sim, g.adminSite, "127.0.0.2", http.MethodGet, "/crux/", http.Header{name: {v}}, proto)
				refusals++
				if status != http.StatusForbidden || reached != 0 {
					t.Fatalf("%s: %s from 127.0.0.2: status %d, reached %d; want 403", name, v, status, reached)
				}
			}
			status, _, reached := adminRequest(t, g.sim, g.adminSite, "127.0.0.2", http.MethodGet, "/crux/", all, proto)
			refusals++
			if status != http.StatusForbidden || reached != 0 {
				t.Fatalf("all spoofing headers at once: status %d, reached %d; want 403", status, reached)
			}
		})
	})

	t.Run("only-ui-paths-from-allowed", func(t *testing.T) {
		for _, path := range []string{"/fhir/Patient", "/cruxx", "/updateConfig", "/crux/../updateConfig", "/ocrux/%2e%2e/config"} {
			status, _, reached := adminRequest(t, g.sim, g.adminSite, "127.0.0.1", http.MethodGet, path, session)
			if status != http.StatusNotFound || reached != 0 {
				t.Fatalf("GET %s from 127.0.0.1: status %d, reached %d; want 404 and nothing upstream", path, status, reached)
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		want := fmt.Sprintf(`crgate_subnet_guard_refused_total{reason="address_not_allowed"} %d`, refusals)
		if m := g.metrics(t); !strings.Contains(m, want) {
			t.Fatalf("metrics lack %q", want)
		}
	})
}

// behindProxyCaddyfile runs two admin sites whose servers trust the proxy
// at 127.0.0.3: one reading X-Forwarded-For leftmost-first (Caddy's
// default), one with trusted_proxies_strict (rightmost untrusted first).
const behindProxyCaddyfile = `{
	admin 127.0.0.1:{$CRGATE_ADMIN_PORT}
	persist_config off
	auto_https off
	servers :{$CRGATE_ADMIN_SITE_PORT} {
		protocols h1 h2
		strict_sni_host on
		trusted_proxies static 127.0.0.3/32
	}
	servers :{$CRGATE_STRICT_SITE_PORT} {
		protocols h1 h2
		strict_sni_host on
		trusted_proxies static 127.0.0.3/32
		trusted_proxies_strict
	}
	metrics
}
(admin) {
	tls {$CRGATE_CERTS}/server.crt {$CRGATE_CERTS}/server.key
	subnet_guard 127.0.0.1/32 ::1/128
	reverse_proxy {$CRGATE_UPSTREAM}
}
https://:{$CRGATE_ADMIN_SITE_PORT} {
	import admin
}
https://:{$CRGATE_STRICT_SITE_PORT} {
	import admin
}
# A Unix socket has no client address: the guard must refuse, not guess.
http://localhost {
	bind unix/{$CRGATE_ADMIN_SOCKET}
	subnet_guard 127.0.0.1/32 ::1/128
	reverse_proxy {$CRGATE_UPSTREAM}
}
`

// TestAdminSiteBehindTrustedProxy checks that a forwarded address counts
// only from a trusted proxy, and only when it cannot be the client's own
// claim.
func TestAdminSiteBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte(behindProxyCaddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startSim(t)
	strictPort := freePort(t)
	socket := filepath.Join(t.TempDir(), "admin.sock")
	env, g := gatewayEnv(t, gatewayOptions{env: map[string]string{
		"CRGATE_STRICT_SITE_PORT": fmt.Sprint(strictPort),
		"CRGATE_ADMIN_SOCKET":     socket,
	}}, s.addr)
	g.sim = s
	g.run(t, env, caddyfile, func() bool {
		for _, port := range []int{g.adminSite, strictPort} {
			conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: fixtures.caPool, ServerName: "localhost"})
			if err != nil {
				return false
			}
			conn.Close()
		}
		return true
	})

	xff := func(v ...string) http.Header { return http.Header{"X-Forwarded-For": v} }
	cases := []struct {
		name   string
		port   int
		local  string
		header http.Header
		want   int
	}{
		{"ok/proxy-forwards-allowed", g.adminSite, "127.0.0.3", xff("127.0.0.1"), 200},
		{"ok/proxy-forwards-ipv4-mapped", g.adminSite, "127.0.0.3", xff("::ffff:127.0.0.1"), 200},
		{"ok/proxy-forwards-mapped-with-port", g.adminSite, "127.0.0.3", xff("[::ffff:127.0.0.1]:50123"), 200},
		{"ok/proxy-forwards-ipv6", g.adminSite, "127.0.0.3", xff("::1"), 200},
		{"ok/direct-ipv6-listener", g.adminSite, "::1", nil, 200},
		{"ok/untrusted-ipv6-peer-header-ignored", g.adminSite, "::1", xff("127.0.0.9"), 200},
		{"ok/strict-rightmost-untrusted", strictPort, "127.0.0.3", xff("127.0.0.9, 127.0.0.1"), 200},
		{"ok/strict-two-header-lines", strictPort, "127.0.0.3", xff("127.0.0.9", "127.0.0.1"), 200},
		{"fail/proxy-forwards-other", g.adminSite, "127.0.0.3", xff("127.0.0.9"), 403},
		{"fail/proxy-forwards-mapped-other", g.adminSite, "127.0.0.3", xff("::ffff:127.0.0.9"), 403},
		{"fail/proxy-forwards-zoned", g.adminSite, "127.0.0.3", xff("fe80::1%eth0"), 403},
		{"fail/proxy-forwards-public", g.adminSite, "127.0.0.3", xff("203.0.113.7"), 403},
		{"fail/proxy-without-header-is-judged-itself", g.adminSite, "127.0.0.3", nil, 403},
		{"fail/proxy-forwards-garbage", g.adminSite, "127.0.0.3", xff("localhost"), 403},
		{"fail/proxy-header-not-configured", g.adminSite, "127.0.0.3", http.Header{"X-Real-Ip": {"127.0.0.1"}, "Forwarded": {"for=127.0.0.1"}}, 403},
		{"fail/leftmost-chain-client-prepended", g.adminSite, "127.0.0.3", xff("127.0.0.1, 203.0.113.7"), 403},
		{"fail/leftmost-chain-two-header-lines", g.adminSite, "127.0.0.3", xff("127.0.0.1", "203.0.113.7"), 403},
		{"fail/untrusted-peer", g.adminSite, "127.0.0.2", xff("127.0.0.1"), 403},
		{"fail/strict-client-prepended", strictPort, "127.0.0.3", xff("127.0.0.1, 127.0.0.9"), 403},
		{"fail/strict-untrusted-peer", strictPort, "127.0.0.2", xff("127.0.0.1"), 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bothProtocols(t, func(t *testing.T, proto clientOption) {
				status, _, reached := adminRequest(t, s, tc.port, tc.local, http.MethodGet, "/crux/", tc.header, proto)
				wantReached := 0
				if tc.want == http.StatusOK {
					wantReached = 1
				}
				if status != tc.want || reached != wantReached {
					t.Fatalf("from %s with %v: status %d, reached %d; want %d, %d", tc.local, tc.header, status, reached, tc.want, wantReached)
				}
			})
		})
	}
	t.Run("fail/unix-socket-has-no-address", func(t *testing.T) {
		before := len(s.records(t))
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "unix", socket)
		}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 15 * time.Second}).Get("http://localhost/crux/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || len(s.records(t)) != before {
			t.Fatalf("over the Unix socket: status %d, reached %d; want 403 and nothing upstream", resp.StatusCode, len(s.records(t))-before)
		}
	})
	m := g.metrics(t)
	for _, want := range []string{
		`crgate_subnet_guard_refused_total{reason="no_client_address"} 1`,
		`crgate_subnet_guard_refused_total{reason="ambiguous_forwarded_address"} 4`,
		`crgate_subnet_guard_refused_total{reason="address_not_allowed"} 20`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestAdminSubnetsMisconfiguredRefusesToStart gives the admin site an
// empty or an open range list, and a JSON config with none: crgate must
// refuse to start and name the field.
func TestAdminSubnetsMisconfiguredRefusesToStart(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, subnets string
		want          []string
	}{
		{"empty", "", []string{"subnet_guard", "at least one range is required"}},
		{"ipv4-any", "127.0.0.1/32 0.0.0.0/0", []string{"subnet_guard: ranges admit every IPv4 address (0.0.0.0/0)", "allow_any"}},
		{"ipv6-any", "::/0", []string{"subnet_guard: ranges admit every IPv4 address (::/0) and every IPv6 address (::/0)"}},
		{"ipv4-halves", "0.0.0.0/1 128.0.0.0/1", []string{"every IPv4 address (0.0.0.0/1 128.0.0.0/1)"}},
		{"mapped-space", "::ffff:0.0.0.0/96", []string{"every IPv4 address (::ffff:0.0.0.0/96)"}},
		{"host-bits", "10.1.2.3/8", []string{`subnet_guard: ranges[0] "10.1.2.3/8": host bits set`}},
		{"garbage", "127.0.0.1/32 admins", []string{`subnet_guard: ranges[1] "admins": not an IP address`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := runGatewayToExit(t, gatewayOptions{env: map[string]string{"CRGATE_ADMIN_SUBNETS": tc.subnets}})
			if err == nil {
				t.Fatalf("crgate exited 0 with admin subnets %q:\n%s", tc.subnets, out)
			}
			msg := fatalMessage(out)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the error does not say %q: %s", w, msg)
				}
			}
		})
	}
	t.Run("json-no-ranges", func(t *testing.T) {
		t.Parallel()
		cfg := filepath.Join(t.TempDir(), "config.json")
		port := freePort(t)
		json := fmt.Sprintf(`{"admin": {"disabled": true}, "apps": {"http": {"servers": {"admin": {
			"listen": ["127.0.0.1:%d"],
			"routes": [{"handle": [{"handler": "subnet_guard", "allow_any": true}, {"handler": "static_response", "body": "admin"}]}]
		}}}}}`, port)
		if err := os.WriteFile(cfg, []byte(json), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, crgateBin, "run", "--config", cfg).CombinedOutput()
		if err == nil || ctx.Err() != nil {
			t.Fatalf("crgate started (or hung) with a guard without ranges: %v\n%s", err, out)
		}
		if msg := fatalMessage(string(out)); !strings.Contains(msg, "subnet_guard: ranges is empty") {
			t.Fatalf("the error does not name the field: %s", msg)
		}
	})
}
