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

func TestSplitProcs(t *testing.T) {
	tests := []struct {
		name, base string
		procs      int
		ok         bool
	}{
		{"crgate", "crgate", 0, true},
		{"caddy@1", "caddy", 1, true},
		{"crgate-sync@4", "crgate-sync", 4, true},
		{"crgate@0", "", 0, false},
		{"crgate@", "", 0, false},
		{"crgate@x", "", 0, false},
		{"crgate@65", "", 0, false},
		{"crgate@-1", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, procs, err := splitProcs(tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("splitProcs(%q): err %v, want ok=%v", tt.name, err, tt.ok)
			}
			if base != tt.base || procs != tt.procs {
				t.Errorf("splitProcs(%q) = %q, %d; want %q, %d", tt.name, base, procs, tt.base, tt.procs)
			}
		})
	}
}
