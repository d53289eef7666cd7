package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRegisteredNodeReachesRegistryWithGatewayIdentity(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	bothProtocols(t, func(t *testing.T, proto clientOption) {
		before := len(g.sim.records(t))
		status, body, err := get(g.client(t, "alpha", proto), g.url("/fhir/Patient?_count=2"), nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("registered node: status %d, err %v, body %.200s", status, err, body)
		}
		if !strings.Contains(body, `"resourceType":"Bundle"`) && !strings.Contains(body, `"resourceType": "Bundle"`) {
			t.Fatalf("not a FHIR Bundle: %.200s", body)
		}
		recs := g.sim.records(t)
		if len(recs) != before+1 {
			t.Fatalf("simulator saw %d requests, want 1", len(recs)-before)
		}
		h := http.Header(recs[len(recs)-1].Headers)
		for name, want := range map[string]string{
			"X-Openhim-Clientid":        "alpha",
			"X-Crgate-Node-Id":          "alpha",
			"X-Crgate-Node-Name":        "Node alpha",
			"X-Crgate-Node-Fingerprint": fixtures.fp["alpha"],
		} {
			if got := h.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("upstream %s = %q, want [%q]", name, got, want)
			}
		}
	})
}

// TestRefusedCertificatesNeverReachRegistry tries every kind of
// certificate that must not get through; each must fail in the TLS
// handshake and the simulator must see nothing.
func TestRefusedCertificatesNeverReachRegistry(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	cases := []struct {
		name, cert string
		alert12    string // the TLS alert the client receives under TLS 1.2
		alert13    string // and under TLS 1.3
	}{
		// The repository's Caddyfile has client_auth mode require and the
		// node registry verifies chains, so every refusal after the
		// certificate arrives is the verifier's: "bad certificate" (the
		// reason is in the metric and the audit event).
		{"no-certificate", "", "handshake failure", "certificate required"},
		{"untrusted-ca-even-if-registered", "foreign", "bad certificate", "bad certificate"},
		{"expired", "expired", "bad certificate", "bad certificate"},
		{"revoked", "revoked", "bad certificate", "bad certificate"},
		{"unregistered", "stranger", "bad certificate", "bad certificate"},
		{"disabled", "charlie", "bad certificate", "bad certificate"},
		{"registered-server-certificate", "servercert", "bad certificate", "bad certificate"},
	}
	for _, proto := range []struct {
		name string
		ver  uint16
	}{{"tls1.3", tls.VersionTLS13}, {"tls1.2", tls.VersionTLS12}} {
		for _, tc := range cases {
			t.Run(proto.name+"/"+tc.name, func(t *testing.T) {
				cfg := g.tlsConfig(t, tc.cert)
				cfg.MinVersion, cfg.MaxVersion = proto.ver, proto.ver
				want := tc.alert13
				if proto.ver == tls.VersionTLS12 {
					want = tc.alert12
				}
				err := g.handshakeOutcome(cfg)
				if err == nil || !strings.Contains(err.Error(), "remote error: tls: "+want) {
					t.Fatalf("handshake outcome = %v, want TLS alert %q", err, want)
				}
			})
		}
	}
	if recs := g.sim.records(t); len(recs) != 0 {
		t.Fatalf("simulator saw %d requests from refused clients: first %s %s", len(recs), recs[0].Method, recs[0].RequestURI)
	}
	// The refusals are counted by reason on the metrics endpoint.
	metrics := g.metrics(t)
	for _, reason := range []string{"unregistered_certificate", "node_disabled", "certificate_revoked", "unknown_ca", "certificate_expired", "wrong_key_usage"} {
		if !strings.Contains(metrics, `crgate_node_handshakes_refused_total{reason="`+reason+`"}`) {
			t.Errorf("metrics lack handshakes refused for %s", reason)
		}
	}
}

func TestSpoofedIdentityHeadersNeverReachRegistry(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	spoof := map[string]string{
		"x-openhim-clientid":               "admin",
		"X_OPENHIM_CLIENTID":               "admin",
		"X-Client-Id":                      "admin",
		"x_client_name":                    "admin",
		"X-Forwarded-Client-Cert":          "Hash=00;Subject=\"CN=admin\"",
		"X-SSL-Client-Verify":              "SUCCESS",
		"X-Ssl-Client-S-Dn":                "CN=admin",
		"X-Crgate-Node-Id":                 "admin",
		"X-Crgate-Node-Fingerprint":        "00",
		"X-Forwarded-Tls-Client-Cert-Info": "CN=admin",
	}
	bothProtocols(t, func(t *testing.T, proto clientOption) {
		before := len(g.sim.records(t))
		h := http.Header{}
		for k, v := range spoof {
			h[k] = []string{v} // as written: no canonicalisation
		}
		status, _, err := get(g.client(t, "alpha", proto), g.url("/fhir/Patient/p-0001"), h)
		if err != nil || status >= 500 {
			t.Fatalf("status %d, err %v", status, err)
		}
		recs := g.sim.records(t)[before:]
		if len(recs) != 1 {
			t.Fatalf("simulator saw %d requests, want 1", len(recs))
		}
		for name, values := range recs[0].Headers {
			for _, v := range values {
				if v == "admin" || strings.Contains(v, "CN=admin") || v == "SUCCESS" || v == "00" {
					t.Errorf("spoofed header reached the registry: %s: %s", name, v)
				}
			}
		}
		if got := http.Header(recs[0].Headers).Values("X-Openhim-Clientid"); len(got) != 1 || got[0] != "alpha" {
			t.Errorf("x-openhim-clientid = %q, want [alpha]", got)
		}
	})
}

// TestDisablingANodeTakesEffectOnItsNextRequest disables a node through
// `crgate clients` while it holds an open keep-alive connection and a TLS
// session cache.
func TestDisablingANodeTakesEffectOnItsNextRequest(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	caches := map[uint16]tls.ClientSessionCache{}
	for _, ver := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		cache := tls.NewLRUClientSessionCache(8)
		caches[ver] = cache
		conn := g.dialWithCache(t, "bravo", ver, cache)
		if status, err := roundTrip(conn, "localhost", "/fhir/Patient?_count=1"); err != nil || !strings.HasPrefix(status, "200") {
			t.Fatalf("%s: before disabling: %q, %v", tls.VersionName(ver), status, err)
		}
		conn.Close()
		// Caddy turns TLS session tickets off on every policy with client
		// authentication, so a client holding a session never skips the
		// certificate check. Should that change, the node registry verifier
		// still runs (Caddy calls verifiers from VerifyConnection, which
		// also runs on resumption), and this test must then assert the
		// resumed path.
		again := g.dialWithCache(t, "bravo", ver, cache)
		if again.ConnectionState().DidResume {
			t.Fatalf("%s: the gateway resumed a client-authenticated session; assert the resumed path instead", tls.VersionName(ver))
		}
		again.Close()
	}

	keepAlive := g.client(t, "bravo", http1)
	if status, _, err := get(keepAlive, g.url("/fhir/Patient?_count=1"), nil); err != nil || status != http.StatusOK {
		t.Fatalf("before disabling: status %d, err %v", status, err)
	}
	before := len(g.sim.records(t))
	out, err := crgate("clients", "disable", "--file", g.clients, "--id", "bravo")
	if err != nil || !strings.Contains(out, `node "bravo": status active -> disabled`) {
		t.Fatalf("crgate clients disable: %v\n%s", err, out)
	}
	waitFor(t, "the gateway to reload the clients file", 20*time.Second, func() bool {
		return g.logged("node registry reloaded", `"generation":1`)
	})

	// The connection opened before the change: its next request is refused.
	status, _, err := get(keepAlive, g.url("/fhir/Patient?_count=1"), nil)
	if err != nil || status != http.StatusForbidden {
		t.Fatalf("open connection after disabling: status %d, err %v; want 403", status, err)
	}
	// A new connection, with the session cache of before: refused in the
	// handshake.
	for _, ver := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		cfg := g.tlsConfig(t, "bravo")
		cfg.MinVersion, cfg.MaxVersion = ver, ver
		cfg.ClientSessionCache = caches[ver]
		if err := g.handshakeOutcome(cfg); err == nil || !strings.Contains(err.Error(), "bad certificate") {
			t.Fatalf("%s: new connection after disabling: %v, want refused", tls.VersionName(ver), err)
		}
	}
	if recs := g.sim.records(t)[before:]; len(recs) != 0 {
		t.Fatalf("simulator saw %d requests from the disabled node", len(recs))
	}
	if !strings.Contains(g.metrics(t), `crgate_node_requests_refused_total{reason="node_disabled"} 1`) {
		t.Error("metrics do not count the refused request")
	}
	// Another node is unaffected.
	if status, _, err := get(g.client(t, "alpha"), g.url("/fhir/Patient?_count=1"), nil); err != nil || status != http.StatusOK {
		t.Fatalf("other node after disabling bravo: status %d, err %v", status, err)
	}
}

// dialWithCache opens an HTTP/1.1 TLS connection of the given version
// presenting cert, with a client session cache.
func (g *gateway) dialWithCache(t *testing.T, cert string, ver uint16, cache tls.ClientSessionCache) *tls.Conn {
	t.Helper()
	cfg := g.tlsConfig(t, cert)
	cfg.ClientSessionCache = cache
	cfg.MinVersion, cfg.MaxVersion = ver, ver
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", g.addr(), cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return conn
}

// roundTrip writes one HTTP/1.1 request on conn and returns the status
// line.
func roundTrip(conn *tls.Conn, host, path string) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return resp.Status, nil
}

func TestHostMustMatchServerName(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	cases := []struct {
		name, sni, host string
	}{
		{"other-sni-registry-host", "other.example", "localhost"},
		{"registry-sni-other-host", "localhost", "other.example"},
		{"no-sni-registry-host", "", "localhost"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := g.tlsConfig(t, "alpha")
			cfg.ServerName = tc.sni
			cfg.NextProtos = []string{"http/1.1"}
			// The SNI deliberately differs from the certificate's name.
			cfg.InsecureSkipVerify = true
			conn, err := tls.Dial("tcp", g.addr(), cfg)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			status, err := roundTrip(conn, tc.host, "/fhir/Patient")
			if err != nil || !strings.HasPrefix(status, "421") {
				t.Fatalf("status %q, err %v; want 421 Misdirected Request", status, err)
			}
		})
	}
	// Another server name does not open a door without a certificate.
	t.Run("other-sni-without-certificate", func(t *testing.T) {
		cfg := g.tlsConfig(t, "")
		cfg.ServerName = "other.example"
		cfg.InsecureSkipVerify = true
		cfg.NextProtos = []string{"http/1.1"}
		conn, err := tls.Dial("tcp", g.addr(), cfg)
		if err == nil {
			_, err = roundTrip(conn, "other.example", "/")
			conn.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("err = %v, want the handshake refused for lack of a certificate", err)
		}
	})
	if recs := g.sim.records(t); len(recs) != 0 {
		t.Fatalf("simulator saw %d requests", len(recs))
	}
	// Each misdirected request is one audit event naming the rule (the
	// main route never ran: audit in handle_errors records it).
	var evs []auditEvent
	waitFor(t, "the misdirected requests' audit events", 20*time.Second, func() bool {
		evs = evs[:0]
		for _, ev := range requestEvents(auditEvents(t, g.auditFile())) {
			if strings.Contains(ev.OutcomeDesc, "strict_sni_host") {
				evs = append(evs, ev)
			}
		}
		return len(evs) >= len(cases)
	})
	if len(evs) != len(cases) {
		t.Fatalf("%d strict_sni_host audit events, want exactly %d", len(evs), len(cases))
	}
	for _, ev := range evs {
		if !strings.HasPrefix(ev.codes(), "110113/") || ev.Outcome != "4" {
			t.Errorf("misdirected request event: codes %s outcome %s", ev.codes(), ev.Outcome)
		}
	}
}

func TestOldTLSVersionsRefused(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	for _, v := range []struct {
		name string
		ver  uint16
	}{{"tls1.0", tls.VersionTLS10}, {"tls1.1", tls.VersionTLS11}} {
		t.Run(v.name, func(t *testing.T) {
			cfg := g.tlsConfig(t, "alpha")
			cfg.MinVersion, cfg.MaxVersion = v.ver, v.ver
			conn, err := tls.Dial("tcp", g.addr(), cfg)
			if err == nil {
				conn.Close()
				t.Fatalf("%s handshake succeeded", v.name)
			}
			if !strings.Contains(err.Error(), "protocol version") {
				t.Fatalf("err = %v, want a protocol version alert", err)
			}
		})
	}
}

func TestBrokenConfigRefusesToStart(t *testing.T) {
	t.Parallel()
	good := string(fixtures.clients)
	cases := []struct {
		name    string
		opts    gatewayOptions
		removes string // a file to delete from the gateway's cert dir
		want    []string
	}{
		{"malformed-json", gatewayOptions{clients: []byte(`{"clients": [`)}, "", []string{"clients_file", "decoding JSON"}},
		{"duplicate-node-id", gatewayOptions{clients: []byte(strings.Replace(good, `"id": "bravo"`, `"id": "alpha"`, 1))}, "", []string{`clients[`, `(id "alpha"): id: duplicate id`}},
		{"malformed-fingerprint", gatewayOptions{clients: []byte(strings.Replace(good, fixtures.fp["alpha"], "AB:CD:EF", 1))}, "", []string{`(id "alpha"): fingerprints[0]: malformed SHA-256 fingerprint`}},
		{"unknown-scope", gatewayOptions{clients: []byte(strings.Replace(good, `"Patient.read"`, `"Patient.readeverything"`, 1))}, "", []string{`(id "alpha"): scopes: scope 1: unknown scope "Patient.readeverything"`}},
		{"missing-clients-file", gatewayOptions{}, "clients.json", []string{"clients_file", "no such file"}},
		{"missing-crl", gatewayOptions{}, "ca.crl", []string{"crl_files[0]", "no such file"}},
		{"unreadable-ca", gatewayOptions{}, "ca.crt", []string{"ca.crt", "no such file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var remove []string
			if tc.removes != "" {
				remove = append(remove, tc.removes)
			}
			out, err := runGatewayToExit(t, tc.opts, remove...)
			if err == nil {
				t.Fatalf("crgate exited 0 with a broken config:\n%s", out)
			}
			msg := fatalMessage(out)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the error does not name %q: %s", w, msg)
				}
			}
		})
	}
}

func TestBrokenClientsFileKeepsLastGoodRegistry(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	broken := strings.Replace(string(fixtures.clients), `"status": "disabled"`, `"status": "maybe"`, 1)
	if err := os.WriteFile(g.clients, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the gateway to reject the broken file", 20*time.Second, func() bool {
		return g.logged("rejected changed node registry files", `status: \"maybe\"`)
	})
	if status, _, err := get(g.client(t, "alpha"), g.url("/fhir/Patient?_count=1"), nil); err != nil || status != http.StatusOK {
		t.Fatalf("registered node after a broken reload: status %d, err %v", status, err)
	}
	// charlie stays disabled: the broken file did not half-apply.
	cfg := g.tlsConfig(t, "charlie")
	if err := g.handshakeOutcome(cfg); err == nil {
		t.Fatal("disabled node accepted after a broken reload")
	}
}

// TestCatchAllDoorRefusesToStart writes the site the way Caddy's docs
// would (a host name in the address): the Caddyfile adapter then adds a
// catch-all TLS policy without client authentication, and crgate must
// refuse to run with it.
func TestCatchAllDoorRefusesToStart(t *testing.T) {
	t.Parallel()
	caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
	cfg := `{
	admin 127.0.0.1:{$CRGATE_ADMIN_PORT}
	auto_https off
	node_registry {
		clients {$CRGATE_CERTS}/clients.json
	}
}
localhost:{$CRGATE_REGISTRY_PORT} {
	tls {$CRGATE_CERTS}/server.crt {$CRGATE_CERTS}/server.key {
		client_auth {
			mode require_and_verify
			trust_pool file {$CRGATE_CERTS}/ca.crt
			verifier node_registry
		}
	}
	node_auth
	respond "registry"
}
`
	if err := os.WriteFile(caddyfile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runGatewayToExit(t, gatewayOptions{caddyfile: caddyfile})
	if err == nil {
		t.Fatalf("crgate started with a catch-all TLS policy without client auth:\n%s", out)
	}
	msg := fatalMessage(out)
	for _, want := range []string{"tls_connection_policies[1]", "without a verified client certificate", "host-less address"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q: %s", want, msg)
		}
	}
}

// TestUnguardedRegistryDoorRefusesToStart: a registry door on which a
// handler that answers from the registry can run without node_auth and
// fhir_guard before it (a site that forgot fhir_guard, guards inside one
// handle block and a proxy in another, a proxy in handle_errors) would
// hand registered nodes the HAPI tester UI, $expunge and Elasticsearch;
// crgate refuses to start and names the handler.
func TestUnguardedRegistryDoorRefusesToStart(t *testing.T) {
	t.Parallel()
	const global = `{
	admin 127.0.0.1:{$CRGATE_ADMIN_PORT}
	auto_https off
	node_registry {
		clients {$CRGATE_CERTS}/clients.json
	}
}
https://:{$CRGATE_REGISTRY_PORT} {
	tls {$CRGATE_CERTS}/server.crt {$CRGATE_CERTS}/server.key {
		client_auth {
			mode require_and_verify
			trust_pool file {$CRGATE_CERTS}/ca.crt
			verifier node_registry
		}
	}
`
	tests := []struct{ name, site, want string }{
		{"no-fhir-guard", "\tnode_auth\n\treverse_proxy {$CRGATE_UPSTREAM}\n", "(reverse_proxy) can run without node_auth and fhir_guard before it"},
		{"guards-in-one-handle-block", "\thandle /fhir/* {\n\t\tnode_auth\n\t\tfhir_guard\n\t\tregistry_proxy {$CRGATE_UPSTREAM}\n\t}\n\thandle {\n\t\treverse_proxy {$CRGATE_UPSTREAM}\n\t}\n",
			"(reverse_proxy) can run without node_auth and fhir_guard"},
		{"proxy-in-handle-errors", "\tnode_auth\n\tfhir_guard\n\tregistry_proxy {$CRGATE_UPSTREAM}\n\thandle_errors {\n\t\treverse_proxy {$CRGATE_UPSTREAM}\n\t}\n",
			"errors.routes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
			if err := os.WriteFile(caddyfile, []byte(global+tc.site+"}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := runGatewayToExit(t, gatewayOptions{caddyfile: caddyfile})
			if err == nil {
				t.Fatalf("crgate started with an unguarded registry door:\n%s", out)
			}
			msg := fatalMessage(out)
			for _, want := range []string{tc.want, "listen :", "put node_auth and fhir_guard ahead of it"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not say %q: %s", want, msg)
				}
			}
		})
	}
}

// TestRefusedHandshakeAlertReachesCurl: an OpenSSL client (curl) without a
// certificate is told why it was refused. Under TLS 1.3 it sends its
// request before it reads the server's alert; if the gateway closed the
// connection outright, curl would usually see a reset ("Send failure",
// "getpeername() failed") instead of "certificate required".
func TestRefusedHandshakeAlertReachesCurl(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is not installed (make test-deps installs it)")
	}
	g := startGateway(t, gatewayOptions{})
	ca := filepath.Join(g.certs, "ca.crt")
	for i := range 10 {
		out, err := exec.Command(curl, "-sS", "--max-time", "10", "--tlsv1.3", "--cacert", ca,
			"--resolve", fmt.Sprintf("localhost:%d:127.0.0.1", g.port), g.url("/fhir/Patient")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "alert certificate required") {
			t.Fatalf("attempt %d: curl without a certificate: %v\n%s\nwant the TLS alert 'certificate required'", i, err, out)
		}
	}
	if recs := g.sim.records(t); len(recs) != 0 {
		t.Fatalf("simulator saw %d requests", len(recs))
	}
}
