package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var updateExamples = flag.Bool("update-examples", false, "rewrite examples/*.json from `crgate adapt` of their Caddyfiles (only when every directive is in the binary)")

// pendingDirectives are written in configs/Caddyfile but built on other
// branches (fhir_guard and fhir_outcome by the guard work, audit by the
// audit work). While the binary lacks one, the tests below strip it from
// the Caddyfile (and its handler from the JSON examples), check
// everything else, and log what they could not check; once the binary has
// them, nothing is stripped and they are checked too.
var pendingDirectives = []string{"fhir_guard", "fhir_outcome", "audit"}

var unrecognized = regexp.MustCompile(`unrecognized (?:directive|global option): ([a-z_]+)`)

// adaptCaddyfile adapts path with the real binary's `adapt` command,
// stripping pending directives the binary does not know. It returns the
// JSON config (parsed, and as printed) and the directives it stripped.
func adaptCaddyfile(t *testing.T, path string) (map[string]any, []byte, []string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	var stripped []string
	for {
		tmp := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		cmd := exec.Command(crgateBin, "adapt", "--config", tmp, "--adapter", "caddyfile")
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			m := unrecognized.FindStringSubmatch(errOut.String())
			if m == nil || !slices.Contains(pendingDirectives, m[1]) || slices.Contains(stripped, m[1]) {
				t.Fatalf("crgate adapt %s: %v\n%s", path, err, errOut.String())
			}
			stripped = append(stripped, m[1])
			text = stripDirective(text, m[1])
			continue
		}
		if strings.Contains(errOut.String(), `"level":"warn"`) {
			t.Errorf("crgate adapt %s warns:\n%s", path, errOut.String())
		}
		var cfg map[string]any
		if err := json.Unmarshal(out.Bytes(), &cfg); err != nil {
			t.Fatalf("adapt output: %v", err)
		}
		if len(stripped) > 0 {
			t.Logf("%s: not in this binary, so not checked: %s", filepath.Base(path), strings.Join(stripped, ", "))
		}
		return cfg, out.Bytes(), stripped
	}
}

// stripDirective removes every line whose first word is name (with its
// block), then any handle_errors block left without a directive.
func stripDirective(text, name string) string {
	lines := strings.Split(text, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		f := strings.Fields(lines[i])
		if len(f) > 0 && f[0] == name {
			i = blockEnd(lines, i)
			continue
		}
		out = append(out, lines[i])
	}
	lines, out = out, nil
	for i := 0; i < len(lines); i++ {
		if f := strings.Fields(lines[i]); len(f) == 2 && f[0] == "handle_errors" && f[1] == "{" {
			end := blockEnd(lines, i)
			empty := true
			for _, l := range lines[i+1 : end] {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					empty = false
				}
			}
			if empty {
				i = end
				continue
			}
		}
		out = append(out, lines[i])
	}
	return strings.Join(out, "\n")
}

// blockEnd returns the index of the line closing the block opened on
// line i, or i if the line opens none.
func blockEnd(lines []string, i int) int {
	if !strings.HasSuffix(strings.TrimSpace(lines[i]), "{") {
		return i
	}
	depth := 0
	for j := i; j < len(lines); j++ {
		depth += strings.Count(lines[j], "{") - strings.Count(lines[j], "}")
		if depth == 0 {
			return j
		}
	}
	return len(lines) - 1
}

// stripHandlers removes the handlers named in names from a JSON config,
// then whatever that leaves empty (routes, subroutes, error routes).
func stripHandlers(v any, names []string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			x[k] = stripHandlers(c, names)
		}
		if h, ok := x["handle"].([]any); ok {
			x["handle"] = slices.DeleteFunc(h, func(e any) bool {
				m, _ := e.(map[string]any)
				name, _ := m["handler"].(string)
				routes, isSub := m["routes"].([]any)
				return slices.Contains(names, name) || (name == "subroute" && isSub && len(routes) == 0)
			})
		}
		if r, ok := x["routes"].([]any); ok {
			x["routes"] = slices.DeleteFunc(r, func(e any) bool {
				m, _ := e.(map[string]any)
				h, _ := m["handle"].([]any)
				_, matched := m["match"]
				return len(h) == 0 && !matched
			})
		}
		if e, ok := x["errors"].(map[string]any); ok {
			if r, _ := e["routes"].([]any); len(r) == 0 {
				delete(x, "errors")
			}
		}
		return x
	case []any:
		for i, c := range x {
			x[i] = stripHandlers(c, names)
		}
		return x
	default:
		return v
	}
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
	cfg, _, stripped := adaptCaddyfile(t, filepath.Join(repoRoot, "configs", "Caddyfile"))
	if got := dig[string](t, cfg, "admin", "listen"); got != "127.0.0.1:2019" {
		t.Errorf("admin API listens on %q, want loopback 127.0.0.1:2019", got)
	}
	for name, s := range dig[map[string]any](t, cfg, "apps", "http", "servers") {
		srv := s.(map[string]any)
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
	ca := dig[map[string]any](t, policies[0], "client_authentication")
	if ca["mode"] != "require_and_verify" {
		t.Errorf("registry client_authentication mode %v, want require_and_verify", ca["mode"])
	}
	if v := fmt.Sprint(ca["verifiers"]); v != "[map[verifier:node_registry]]" {
		t.Errorf("registry verifiers %s, want node_registry", v)
	}
	if dig[string](t, policies[0], "protocol_min") != "tls1.2" {
		t.Error("registry accepts TLS below 1.2")
	}
	// The audit directive is commented out until the audit module is
	// built; once enabled it must come first.
	wantChain := []string{"node_auth", "fhir_guard", "request_body", "reverse_proxy"}
	wantChain = slices.DeleteFunc(wantChain, func(s string) bool { return slices.Contains(stripped, s) })
	got := handlers(t, registry)
	if len(got) > 0 && got[0] == "audit" {
		got = got[1:]
	}
	if !slices.Equal(got, wantChain) {
		t.Errorf("registry handler chain %q, want %q (after audit, if enabled)", got, wantChain)
	}
	if !slices.Contains(stripped, "fhir_outcome") {
		if _, ok := registry["errors"]; !ok {
			t.Error("registry site has no error routes (fhir_outcome)")
		}
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
	first := 0
	if len(chain) > 0 && chain[0] == "audit" {
		first = 1
	}
	if len(chain) <= first || chain[first] != "subnet_guard" {
		t.Fatalf("admin handler chain %q: subnet_guard is not first (after audit)", chain)
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
			cfg, raw, stripped := adaptCaddyfile(t, filepath.Join(repoRoot, caddyfile))
			path := filepath.Join(repoRoot, jsonFile)
			if *updateExamples {
				if len(stripped) > 0 {
					t.Fatalf("cannot rewrite %s: the binary lacks %v", jsonFile, stripped)
				}
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
			want = stripHandlers(want, stripped)
			if !reflect.DeepEqual(any(cfg), want) {
				got, _ := json.MarshalIndent(cfg, "", "  ")
				exp, _ := json.MarshalIndent(want, "", "  ")
				t.Fatalf("%s does not match `crgate adapt %s` (run with -args -update-examples once every directive is built):\ngot  %s\nwant %s", jsonFile, caddyfile, got, exp)
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
	_, _, stripped := adaptCaddyfile(t, path)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	for _, d := range stripped {
		text = stripDirective(text, d)
	}
	s := startSim(t)
	env, g := gatewayEnv(t, gatewayOptions{}, s.addr)
	g.sim = s
	for old, repl := range map[string]string{
		"/etc/crgate/":         g.certs + "/",
		"https://:443 {":       fmt.Sprintf("https://:%d {", g.port),
		"https://:8443 {":      fmt.Sprintf("https://:%d {", g.adminSite),
		"admin 127.0.0.1:2019": fmt.Sprintf("admin 127.0.0.1:%d", g.adminPort),
		"127.0.0.1:3000":       s.addr,
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("configs/Caddyfile no longer contains %q", old)
		}
		text = strings.ReplaceAll(text, old, repl)
	}
	// State and log directories (the audit spool and sinks, once enabled).
	for _, dir := range []string{"/var/lib/crgate/", "/var/log/crgate/"} {
		text = strings.ReplaceAll(text, dir, t.TempDir()+"/")
	}
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
	status, body, reached := adminRequest(t, s, g.adminSite, "127.0.0.1", http.MethodGet, "/crux/", nil)
	if status != http.StatusOK || reached != 1 || !strings.Contains(body, "OpenCR") {
		t.Fatalf("operator on loopback: status %d, reached %d", status, reached)
	}
	if status, _, reached := adminRequest(t, s, g.adminSite, "127.0.0.1", http.MethodGet, "/fhir/Patient", nil); status != http.StatusNotFound || reached != 0 {
		t.Fatalf("admin door, non-UI path: status %d, reached %d; want 404 and nothing upstream", status, reached)
	}
}
