package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var updateExamples = flag.Bool("update-examples", false, "rewrite examples/*.json from `crgate adapt` of their Caddyfiles ")

// adaptCaddyfile adapts path with the real binary's `adapt` command and
// returns the JSON config (parsed, and as printed). Every directive the
// configs use is built into crgate, so an unknown one is a failure.
func adaptCaddyfile(t *testing.T, path string) (map[string]any, []byte) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(crgateBin, "adapt", "--config", path, "--adapter", "caddyfile")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("crgate adapt %s: %v\n%s", path, err, errOut.String())
	}
	if strings.Contains(errOut.String(), `"level":"warn"`) {
		t.Errorf("crgate adapt %s warns:\n%s", path, errOut.String())
	}
	var cfg map[string]any
	if err := json.Unmarshal(out.Bytes(), &cfg); err != nil {
		t.Fatalf("adapt output: %v", err)
	}
	return cfg, out.Bytes()
}

// server returns the HTTP server listening on addr.
func server(t *testing.T, cfg map[string]any, addr string) map[string]any {
	t.Helper()
	servers := dig[map[string]any](t, cfg, "apps", "http", "servers")
	for _, s := range servers {
		srv, _ := s.(map[string]any)
		if listen, _ := srv["listen"].([]any); slices.Contains(listen, any(addr)) {
			return srv
		}
	}
	t.Fatalf("no server listens on %s", addr)
	return nil
}

// dig walks a JSON object by keys and returns the value as T.
func dig[T any](t *testing.T, v any, keys ...string) T {
	t.Helper()
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v: not an object at %q", keys, k)
		}
		v = m[k]
	}
	out, ok := v.(T)
	if !ok {
		t.Fatalf("%v: %T, not %T", keys, v, out)
	}
	return out
}

// handlers lists the handler names of a server's first route.
func handlers(t *testing.T, srv map[string]any) []string {
	t.Helper()
	routes := dig[[]any](t, srv, "routes")
	var names []string
	for _, h := range dig[[]any](t, routes[0], "handle") {
		names = append(names, dig[string](t, h, "handler"))
	}
	return names
}

// TestProductionCaddyfile adapts configs/Caddyfile with the real binary
// and checks the properties the deployment relies on.
func TestProductionCaddyfile(t *testing.T) {
	t.Parallel()
	cfg, _ := adaptCaddyfile(t, filepath.Join(repoRoot, "configs", "Caddyfile"))
	// The admin API can replace the config: a unix socket with Caddy's
	// default mode (0200, the crgate user only), not a TCP port every
	// local process reaches.
	if got := dig[string](t, cfg, "admin", "listen"); !strings.HasPrefix(got, "unix/") || strings.Contains(got, "|") {
		t.Errorf("admin API listens on %q, want a unix socket with the default owner-only mode", got)
	}
	for name, s := range dig[map[string]any](t, cfg, "apps", "http", "servers") {
		srv := s.(map[string]any)
		if listen := fmt.Sprint(srv["listen"]); listen == "[127.0.0.1:2020]" {
			// The metrics listener: loopback, plain HTTP/1.1, metrics only.
			if p := fmt.Sprint(srv["protocols"]); p != "[h1]" {
				t.Errorf("metrics server %s: protocols %s, want [h1]", name, p)
			}
			if got := handlerNames(srv["routes"]); got != "metrics static_response" {
				t.Errorf("metrics server %s serves %q, want only metrics (and 404s)", name, got)
			}
			continue
		}
		if srv["strict_sni_host"] != true {
			t.Errorf("server %s: strict_sni_host not on", name)
		}
		if p := fmt.Sprint(srv["protocols"]); p != "[h1 h2]" {
			t.Errorf("server %s: protocols %s, want [h1 h2] (no HTTP/3)", name, p)
		}
		if dig[bool](t, srv, "automatic_https", "disable") != true {
			t.Errorf("server %s: automatic HTTPS not disabled", name)
		}
		if _, ok := srv["trusted_proxies"]; ok {
			t.Errorf("server %s trusts proxies: forwarded client addresses would count", name)
		}
	}

	registry := server(t, cfg, ":443")
	policies := dig[[]any](t, registry, "tls_connection_policies")
	if len(policies) != 1 {
		t.Fatalf("registry listener has %d TLS policies, want exactly 1 (no catch-all without client auth)", len(policies))
	}
	// mode require: the node registry verifies the chain against its ca
	// (crgate refuses to start with mode require without one).
	ca := dig[map[string]any](t, policies[0], "client_authentication")
	if ca["mode"] != "require" {
		t.Errorf("registry client_authentication mode %v, want require (the node registry verifies chains)", ca["mode"])
	}
	if got := dig[string](t, cfg, "apps", "node_registry", "ca_file"); got != "/etc/crgate/ca.crt" {
		t.Errorf("node_registry ca_file %q, want /etc/crgate/ca.crt", got)
	}
	if v := fmt.Sprint(ca["verifiers"]); v != "[map[verifier:node_registry]]" {
		t.Errorf("registry verifiers %s, want node_registry", v)
	}
	if dig[string](t, policies[0], "protocol_min") != "tls1.2" {
		t.Error("registry accepts TLS below 1.2")
	}
	// audit outermost, so every request is recorded whatever refuses it.
	wantChain := []string{"audit", "node_auth", "fhir_guard", "request_body", "registry_proxy"}
	if got := handlers(t, registry); !slices.Equal(got, wantChain) {
		t.Errorf("registry handler chain %q, want %q", got, wantChain)
	}
	if _, ok := registry["errors"]; !ok {
		t.Error("registry site has no error routes (fhir_outcome)")
	}
	if lw := fmt.Sprint(registry["listener_wrappers"]); !strings.Contains(lw, "handshake_audit") {
		t.Errorf("registry listener wrappers %s: failed handshakes are not audited", lw)
	}
	if got := dig[string](t, cfg, "apps", "audit", "durability"); got != "sync" {
		t.Errorf("audit durability %q, want sync", got)
	}
	for _, s := range dig[map[string]any](t, cfg, "apps", "http", "servers") {
		b, _ := json.Marshal(s)
		if strings.Contains(string(b), ":9200") {
			t.Errorf("a server proxies to Elasticsearch (:9200): %s", b)
		}
	}

	admin := server(t, cfg, ":8443")
	if p := dig[[]any](t, admin, "tls_connection_policies"); len(p) != 1 || p[0].(map[string]any)["client_authentication"] != nil {
		t.Errorf("admin listener TLS policies %v, want one without client authentication", p)
	}
	chain := handlers(t, admin)
	const first = 1
	if len(chain) < 3 || chain[0] != "audit" || chain[first] != "subnet_guard" || chain[2] != "admin_login" {
		t.Fatalf("admin handler chain %q, want audit, subnet_guard, admin_login first", chain)
	}
	guard := dig[[]any](t, admin, "routes")[0].(map[string]any)["handle"].([]any)[first].(map[string]any)
	wantRanges := []any{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8", "127.0.0.0/8", "::1/128"}
	if !reflect.DeepEqual(guard["ranges"], wantRanges) || guard["allow_any"] != nil {
		t.Errorf("admin subnet_guard = %v, want ranges %v without allow_any", guard, wantRanges)
	}
}

// TestExamplesMatchTheirCaddyfiles checks that each JSON example is what
// its Caddyfile adapts to (`-update-examples` rewrites them).
func TestExamplesMatchTheirCaddyfiles(t *testing.T) {
	t.Parallel()
	pairs := map[string]string{
		"examples/production.json": "configs/Caddyfile",
		"examples/admin-site.json": "examples/admin-site.Caddyfile",
	}
	for jsonFile, caddyfile := range pairs {
		t.Run(filepath.Base(jsonFile), func(t *testing.T) {
			cfg, raw := adaptCaddyfile(t, filepath.Join(repoRoot, caddyfile))
			path := filepath.Join(repoRoot, jsonFile)
			if *updateExamples {
				// Indented as adapted, so keys keep Caddy's order.
				var b bytes.Buffer
				if err := json.Indent(&b, raw, "", "\t"); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(b.Bytes(), '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want any
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatalf("%s: %v", jsonFile, err)
			}
			if !reflect.DeepEqual(any(cfg), want) {
				got, _ := json.MarshalIndent(cfg, "", "  ")
				exp, _ := json.MarshalIndent(want, "", "  ")
				t.Fatalf("%s does not match `crgate adapt %s` (run with -args -update-examples):\ngot  %s\nwant %s", jsonFile, caddyfile, got, exp)
			}
		})
	}
}

// TestClientsExampleLoads runs the example clients file through the
// registry's own loader.
func TestClientsExampleLoads(t *testing.T) {
	t.Parallel()
	out, err := crgate("clients", "list", "--file", filepath.Join(repoRoot, "configs", "clients.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dhis2-tracker", "openmrs-district-a", "lab-lis", "immunization-app", "openmrs-district-b  disabled"} {
		if !strings.Contains(out, want) {
			t.Errorf("clients list lacks %q:\n%s", want, out)
		}
	}
}

// TestProductionCaddyfileRuns starts configs/Caddyfile for real, with its
// paths and ports moved to the test's: a registered node reaches the FHIR
// service through the registry door, a certificate-less client does not
// get through the handshake, and an operator on loopback reaches the UI.
func TestProductionCaddyfileRuns(t *testing.T) {
	t.Parallel()
	path := filepath.Join(repoRoot, "configs", "Caddyfile")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	s := startSim(t)
	env, g := gatewayEnv(t, gatewayOptions{}, s.addr)
	g.sim = s
	adminSock := filepath.Join(t.TempDir(), "admin.sock")
	metricsPort := freePort(t)
	for old, repl := range map[string]string{
		"/etc/crgate/":                      g.certs + "/",
		"https://:443 {":                    fmt.Sprintf("https://:%d {", g.port),
		"https://:8443 {":                   fmt.Sprintf("https://:%d {", g.adminSite),
		"admin unix//run/crgate/admin.sock": "admin unix/" + adminSock,
		"servers 127.0.0.1:2020 {":          fmt.Sprintf("servers 127.0.0.1:%d {", metricsPort),
		"http://:2020 {":                    fmt.Sprintf("http://:%d {", metricsPort),
		"127.0.0.1:3000":                    s.addr,
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("configs/Caddyfile no longer contains %q", old)
		}
		text = strings.ReplaceAll(text, old, repl)
	}
	// State and log directories (the audit spool and trail, the accounts).
	varLib, varLog := t.TempDir(), t.TempDir()
	text = strings.ReplaceAll(text, "/var/lib/crgate/", varLib+"/")
	text = strings.ReplaceAll(text, "/var/log/crgate/", varLog+"/")
	caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	g.run(t, env, caddyfile, func() bool {
		conn, err := tls.Dial("tcp", g.addr(), g.tlsConfig(t, "alpha"))
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
	if status, body, err := get(g.client(t, "alpha"), g.url("/fhir/Patient?_count=1"), nil); err != nil || status != http.StatusOK {
		t.Fatalf("registered node: status %d, err %v, body %.200s", status, err, body)
	}
	if err := g.handshakeOutcome(g.tlsConfig(t, "")); err == nil {
		t.Fatal("registry door completed a handshake without a client certificate")
	}
	// An operator on loopback without a session gets the login page and
	// nothing reaches OpenCR; logged in, the UI.
	status, body, reached := adminRequest(t, s, g.adminSite, "127.0.0.1", http.MethodGet, "/crux/", nil)
	if status != http.StatusOK || reached != 0 || !strings.Contains(body, `action="/_crgate/login"`) {
		t.Fatalf("operator on loopback without a session: status %d, reached %d; want the login page", status, reached)
	}
	session := adminSession(t, g, "sqlite:"+filepath.Join(varLib, "accounts.db"))
	status, body, reached = adminRequest(t, s, g.adminSite, "127.0.0.1", http.MethodGet, "/crux/", session)
	if status != http.StatusOK || reached != 1 || !strings.Contains(body, "OpenCR") {
		t.Fatalf("operator on loopback: status %d, reached %d", status, reached)
	}
	if status, _, reached := adminRequest(t, s, g.adminSite, "127.0.0.1", http.MethodGet, "/fhir/Patient", session); status != http.StatusNotFound || reached != 0 {
		t.Fatalf("admin door, non-UI path: status %d, reached %d; want 404 and nothing upstream", status, reached)
	}
	// The node's search, the refused handshake and the admin door's
	// requests are in the audit trail, which only the gateway may read.
	trail := filepath.Join(varLog, "audit.jsonl")
	var evs []auditEvent
	waitFor(t, "the audit trail", 20*time.Second, func() bool {
		evs = requestEvents(auditEvents(t, trail))
		return len(evs) >= 5
	})
	fi, err := os.Stat(trail)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit trail %s has mode %v; want 0600", trail, fi.Mode().Perm())
	}
	// The admin API is a socket only the gateway's user can open, and
	// what an operator's reload goes through; metrics are on their own
	// loopback listener.
	if fi, err := os.Stat(adminSock); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o200 {
		t.Fatalf("admin socket %s: %v %v; want a socket of mode 0200", adminSock, fi, err)
	}
	if out, err := crgate("reload", "--config", caddyfile, "--adapter", "caddyfile"); err != nil {
		t.Fatalf("crgate reload through the admin socket: %v\n%s", err, out)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(metrics), "crgate_") {
		t.Fatalf("metrics listener: %d, crgate metrics present %v", resp.StatusCode, strings.Contains(string(metrics), "crgate_"))
	}
	if resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/load", metricsPort), "application/json", strings.NewReader("{}")); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("metrics listener answers /load: %v %v", resp, err)
	}
	var search, handshake bool
	for _, ev := range evs {
		search = search || ev.codes() == "rest/search-type/ITI-78" && ev.nodeID() == "alpha"
		handshake = handshake || strings.Contains(ev.OutcomeDesc, "no_client_certificate")
	}
	if !search || !handshake {
		t.Fatalf("audit trail lacks the node's search (%v) or the refused handshake (%v)", search, handshake)
	}
}

// handlerNames lists the distinct handlers in a route tree, subroutes
// opened, sorted.
func handlerNames(routes any) string {
	seen := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		rs, _ := v.([]any)
		for _, r := range rs {
			hs, _ := r.(map[string]any)["handle"].([]any)
			for _, h := range hs {
				hm := h.(map[string]any)
				if hm["handler"] == "subroute" {
					walk(hm["routes"])
					continue
				}
				seen[fmt.Sprint(hm["handler"])] = true
			}
		}
	}
	walk(routes)
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}
