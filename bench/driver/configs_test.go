package driver

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The repository's Caddyfile is what `make run` and the e2e suite run; its
// registry door must forward as the benchmark measured it.
func TestCaddyfileMatchesTheBenchmark(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Compare token by token, ignoring comments and indentation.
	tokens := func(s string) string {
		s = regexp.MustCompile(`(?m)#.*$`).ReplaceAllString(s, "")
		return strings.Join(strings.Fields(s), " ")
	}
	// The registry door forwards with registry_proxy and its defaults,
	// as the benchmark's crgate configurations do.
	if !regexp.MustCompile(`(?m)^\s*registry_proxy \S+\s*$`).MatchString(string(data)) {
		t.Errorf("the repository Caddyfile's registry door does not use registry_proxy with its defaults, as benchmarked")
	}
	// And the guard is benchmarked as it ships.
	if strings.Contains(string(data), "fhir_guard") && !strings.Contains(tokens(string(data)), tokens(FHIRGuard)) {
		t.Errorf("the repository Caddyfile's fhir_guard differs from the benchmarked one:\n%s", FHIRGuard)
	}
}

func TestBundleIsABatchOfPatientCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bundle.json")
	if err := writeBundle(path, BundleSize); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > BundleSize || len(data) < BundleSize-4096 {
		t.Errorf("bundle is %d bytes, want just under %d", len(data), BundleSize)
	}
	var b struct {
		ResourceType, Type string
		Entry              []struct {
			Resource struct{ ResourceType string }
			Request  struct{ Method, URL string }
		}
	}
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatalf("bundle is not JSON: %v", err)
	}
	if b.ResourceType != "Bundle" || b.Type != "batch" || len(b.Entry) < 500 {
		t.Fatalf("resourceType %q type %q, %d entries", b.ResourceType, b.Type, len(b.Entry))
	}
	for i, e := range b.Entry {
		if e.Resource.ResourceType != "Patient" || e.Request.Method != "POST" || e.Request.URL != "Patient" {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
}

// The two Caddy configurations differ only in crgate's modules and the
// transport: same listener, client certificates verified against the same
// CA (by crypto/tls in plain Caddy, by the node registry in crgate).
func TestCaddyConfigurationsShareTheDoor(t *testing.T) {
	base := caddyParams{pki: pkiPaths{dir: "/pki"}, port: 9443, adminPort: 2019, upstream: "127.0.0.1:3000"}
	plain := caddyfile(base)
	crg := base
	crg.crgate, crg.tuned, crg.fhirGuard, crg.audit, crg.auditDir = true, true, true, "sync", "/audit"
	crg.fhirOutcome, crg.handshakeAudit = true, true
	full := caddyfile(crg)
	for _, s := range []string{"https://:9443 {", "protocols h1 h2", "strict_sni_host on"} {
		if !strings.Contains(plain, s) || !strings.Contains(full, s) {
			t.Errorf("%q not in both configurations", s)
		}
	}
	for _, s := range []string{"mode require_and_verify\n", "trust_pool file /pki/ca.crt"} {
		if !strings.Contains(plain, s) {
			t.Errorf("plain Caddy lacks %q", s)
		}
	}
	for _, s := range []string{"mode require\n", "ca /pki/ca.crt"} {
		if !strings.Contains(full, s) {
			t.Errorf("crgate lacks %q", s)
		}
	}
	for _, s := range []string{"node_auth", "verifier node_registry", "fhir_guard {", "max_body 1MiB", "keepalive_idle_conns_per_host",
		"durability sync", "sink file /audit/audit.jsonl", "handshake_audit", "fhir_outcome"} {
		if strings.Contains(plain, s) {
			t.Errorf("plain Caddy has %q", s)
		}
		if !strings.Contains(full, s) {
			t.Errorf("crgate lacks %q", s)
		}
	}
	if strings.Index(full, "\t\taudit\n") > strings.Index(full, "node_auth") {
		t.Error("audit is not outermost in crgate's route")
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name string
		want configName
		ok   bool
	}{
		{"crgate", configName{config: "crgate"}, true},
		{"caddy@1", configName{config: "caddy", procs: 1}, true},
		{"crgate-sync@4", configName{config: "crgate-sync", procs: 4}, true},
		{"crgate~base", configName{config: "crgate", baseline: true}, true},
		{"crgate-sync~base@2", configName{config: "crgate-sync", procs: 2, baseline: true}, true},
		{"crgate@0", configName{}, false},
		{"crgate@", configName{}, false},
		{"crgate@x", configName{}, false},
		{"crgate@65", configName{}, false},
		{"crgate@-1", configName{}, false},
		{"crgate@2~base", configName{}, false},
		{"crgate~base~base", configName{}, false},
		{"crgate~other", configName{}, false},
		{"~base", configName{}, false},
		{"@2", configName{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("parseConfig(%q): err %v, want ok=%v", tt.name, err, tt.ok)
			}
			if got != tt.want {
				t.Errorf("parseConfig(%q) = %+v; want %+v", tt.name, got, tt.want)
			}
		})
	}
}

func TestPickConfigs(t *testing.T) {
	modules := map[string]bool{"http.handlers.audit": true, "audit": true}
	tests := []struct {
		name     string
		configs  []string
		baseline string
		want     string // error substring; "" for none
	}{
		{"ok/baseline", []string{"crgate", "crgate~base", "crgate-sync~base@1"}, "/old/crgate", ""},
		{"ok/procs", []string{"caddy@1", "crgate@2"}, "", ""},
		{"fail/baseline-without-binary", []string{"crgate", "crgate~base"}, "", "needs -baseline"},
		{"fail/nginx-from-baseline", []string{"nginx~base"}, "/old/crgate", "only the Go proxies"},
		{"fail/direct-with-procs", []string{"direct@2"}, "", "only the Go proxies"},
		{"fail/unknown", []string{"crgate-turbo"}, "", "not available"},
		{"fail/twice", []string{"crgate", "crgate"}, "", "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &driver{o: Options{Configs: tt.configs, BaselineBin: tt.baseline, NginxBin: "/usr/sbin/nginx"}, modules: modules}
			got, err := d.pickConfigs()
			if tt.want == "" {
				if err != nil || strings.Join(got, ",") != strings.Join(tt.configs, ",") {
					t.Fatalf("pickConfigs = %v, %v; want %v", got, err, tt.configs)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("pickConfigs error %v, want one saying %q", err, tt.want)
			}
		})
	}
}
