package sim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestContainerPath(t *testing.T) {
	tests := []struct {
		name, target, want string
		ok                 bool
	}{
		{"ok/plain", "/fhir/Patient", "/fhir/Patient", true},
		{"ok/root", "/", "/", true},
		{"ok/jsessionid", "/home;jsessionid=ABC", "/home", true},
		{"ok/params-on-every-segment", "/fhir;a=1/Patient;b=2/p-0001", "/fhir/Patient/p-0001", true},
		{"ok/dot-dot-semicolon", "/fhir/..;/home", "/home", true},
		{"ok/dot-dot", "/fhir/../actuator/env", "/actuator/env", true},
		{"ok/encoded-dots", "/fhir/Patient/%2e%2e/x;a=b", "/fhir/x", true},
		{"ok/encoded-dots-mixed-case", "/fhir/%2E./home", "/home", true},
		{"ok/double-slash", "//fhir//Patient", "/fhir/Patient", true},
		{"ok/trailing-slash", "/css/", "/css", true},
		{"ok/dot", "/./home/.", "/home", true},
		{"ok/above-root", "/../../home", "/home", true},
		{"ok/encoded-semicolon-is-not-a-separator", "/ho%3Bme", "/ho;me", true},
		{"ok/encoded-slash-decodes", "/fhir%2FPatient", "/fhir/Patient", true},
		{"ok/encoded-dollar", "/fhir/Patient/%24expunge", "/fhir/Patient/$expunge", true},
		{"ok/asterisk", "*", "*", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.ParseRequestURI(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := containerPath(u)
			if got != tt.want || ok != tt.ok {
				t.Errorf("containerPath(%q) = %q, %v; want %q, %v", tt.target, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestTesterUI(t *testing.T) {
	g := newReg(t, Options{})
	for p, name := range testerPages {
		variants := []string{p, p + ";jsessionid=0123ABCD", "/fhir/..;" + p}
		if p == "/" {
			variants = []string{"/", "/;jsessionid=x", "/index.html/.."}
		}
		for _, target := range variants {
			for _, method := range []string{"GET", "POST"} {
				t.Run(method+" "+target, func(t *testing.T) {
					w := serve(g, method, target, "")
					if w.Code != http.StatusOK {
						t.Fatalf("status %d", w.Code)
					}
					if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
						t.Errorf("Content-Type %q", ct)
					}
					if want := "<title>HAPI FHIR tester: " + name + "</title>"; !strings.Contains(w.Body.String(), want) {
						t.Errorf("body lacks %q:\n%s", want, w.Body.String())
					}
				})
			}
		}
	}
}

func TestHAPINonFHIR(t *testing.T) {
	g := newReg(t, Options{})
	tests := []struct {
		target, ctype, contains string
	}{
		{"/css/tester.css", "text/css", "static file /css/tester.css"},
		{"/css/tester.css;jsessionid=1", "text/css", "static file /css/tester.css"},
		{"/fa/css/all.min.css", "text/css", "/fa/css/all.min.css"},
		{"/fonts/x.woff2", "font/woff2", "/fonts/x.woff2"},
		{"/img/hapi_fhir_banner.png", "image/png", "/img/"},
		{"/js/RestfulTester.js", "text/javascript", "/js/"},
		{"/resources/bootstrap/x", "application/octet-stream", "/resources/"},
		{"/actuator", "application/vnd.spring-boot.actuator.v3+json", "_links"},
		{"/actuator/health", "application/vnd.spring-boot.actuator.v3+json", `"status":"UP"`},
		{"/actuator/env", "application/vnd.spring-boot.actuator.v3+json", ActuatorSecret},
		{"/actuator/heapdump", "application/vnd.spring-boot.actuator.v3+json", "heapdump"},
		{"/fhir/swagger-ui/index.html", "text/html", "<title>Swagger UI</title>"},
		{"/fhir/swagger-ui/", "text/html", "<title>Swagger UI</title>"},
		{"/hapi/fhir/swagger-ui/index.html", "text/html", "<title>Swagger UI</title>"},
		{"/fhir/api-docs", "application/json", `"openapi"`},
		{"/mcp", "application/json", "jsonrpc"},
		{"/mcp/message", "application/json", "jsonrpc"},
		{"/sse", "text/event-stream", "event: endpoint"},
		{"/cds-services", "application/json", "services"},
		{"/cds-services/registry-sim", "application/json", "services"},
		{"/content/x.html", "text/html", "HAPI FHIR content"},
		{"/web/index.html", "text/html", "HAPI FHIR web"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			w := serve(g, "GET", tt.target, "")
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("Content-Type %q, want %q", ct, tt.ctype)
			}
			if !strings.Contains(w.Body.String(), tt.contains) {
				t.Errorf("body lacks %q:\n%s", tt.contains, w.Body.String())
			}
		})
	}
}

func TestElasticsearch(t *testing.T) {
	g := newReg(t, Options{})
	tests := []struct {
		method, target string
		key            string // a top-level key of the JSON answer; "" for text
		contains       string
	}{
		{"GET", "/_cluster/health", "status", "green"},
		{"GET", "/_cluster/settings", "persistent", ""},
		{"PUT", "/_cluster/settings", "acknowledged", ""},
		{"GET", "/_cluster/state", "cluster_name", ""},
		{"GET", "/_cat/indices", "", "patients"},
		{"GET", "/_cat/indices?format=json", "", `"index":"patients"`},
		{"GET", "/_cat/health", "", "green"},
		{"GET", "/_cat", "", "/_cat/indices"},
		{"GET", "/_nodes", "_nodes", ""},
		{"GET", "/_nodes/stats", "_nodes", ""},
		{"PUT", "/_snapshot/backup", "acknowledged", ""},
		{"PUT", "/_snapshot/backup/snap-1", "accepted", ""},
		{"GET", "/_scripts/string_similarity", "found", "painless"},
		{"DELETE", "/_scripts/string_similarity", "acknowledged", ""},
		{"PUT", "/_ingest/pipeline/p", "acknowledged", ""},
		{"GET", "/_tasks", "nodes", ""},
		{"GET", "/_security/_authenticate", "username", ""},
		{"GET", "/_security/user", "elastic", ""},
		{"GET", "/_license", "license", ""},
		{"POST", "/_bulk", "items", ""},
		{"POST", "/_reindex", "created", ""},
		{"POST", "/_search", "hits", "p-0001"},
		{"POST", "/patients/_search", "hits", "p-0001"},
		{"GET", "/patients/_search?q=*", "hits", ""},
		{"POST", "/patients/_delete_by_query", "deleted", ""},
		{"POST", "/patients/_update_by_query", "updated", ""},
		{"POST", "/patients/_forcemerge", "_shards", ""},
		{"POST", "/patients/_close", "acknowledged", `"closed":true`},
		{"POST", "/patients/_open", "acknowledged", ""},
		{"DELETE", "/patients", "acknowledged", ""},
		{"DELETE", "/*", "acknowledged", ""},
		{"DELETE", "/_all", "acknowledged", ""},
		{"GET", "/_all", "patients", ""},
		{"POST", "/_all/_delete_by_query", "deleted", ""},
		{"GET", "/patients", "patients", ""},
		{"POST", "/_shutdown/node", "acknowledged", ""},
		{"PUT", "/_watcher/watch/w", "acknowledged", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			w := serve(g, tt.method, tt.target, "")
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			if w.Header().Get("X-Elastic-Product") != "Elasticsearch" {
				t.Errorf("X-Elastic-Product missing")
			}
			if tt.key != "" {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, w.Body.String())
				}
				if _, ok := m[tt.key]; !ok {
					t.Errorf("no %q in %s", tt.key, w.Body.String())
				}
			}
			if !strings.Contains(w.Body.String(), tt.contains) {
				t.Errorf("body lacks %q: %s", tt.contains, w.Body.String())
			}
		})
	}
}

func TestOpenCR(t *testing.T) {
	g := newReg(t, Options{})
	tests := []struct {
		method, target, contains string
	}{
		{"GET", "/crux", "<title>OpenCR</title>"},
		{"GET", "/crux/", "<title>OpenCR</title>"},
		{"GET", "/crux/index.html", "<title>OpenCR</title>"},
		{"POST", "/ocrux/user/authenticate", FakeOpenCRToken},
		{"GET", "/ocrux/dashboard/getDashboardData", `"route":"/ocrux/dashboard/getDashboardData"`},
		{"POST", "/match/break-match", `"route":"/match/break-match"`},
		{"GET", "/user/list", `"route":"/user/list"`},
		{"POST", "/csv/upload", `"route":"/csv/upload"`},
		{"GET", "/config/getURI", `"route":"/config/getURI"`},
		{"POST", "/updateConfig", `{"ok":true,"route":"/updateConfig","method":"POST"}`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			w := serve(g, tt.method, tt.target, `{"username":"root@intrahealth.org","password":"intrahealth"}`)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			if !strings.Contains(w.Body.String(), tt.contains) {
				t.Errorf("body lacks %q: %s", tt.contains, w.Body.String())
			}
			if w.Header().Get("X-Powered-By") != "Express" {
				t.Errorf("X-Powered-By %q", w.Header().Get("X-Powered-By"))
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	g := newReg(t, Options{})
	for _, target := range []string{"/nope", "/cssx", "/fhirx/Patient", "/patient", "/.env", "/_unknown"} {
		t.Run(target, func(t *testing.T) {
			w := serve(g, "GET", target, "")
			if w.Code != http.StatusNotFound {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			var m map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m["error"] != "not found" {
				t.Errorf("body %s (%v)", w.Body.String(), err)
			}
			if w.Header().Get("X-Registry-Sim") != "1" {
				t.Errorf("X-Registry-Sim missing")
			}
		})
	}
}

func TestJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "ctl\x00\x1f\n\t\r", "Müller", "bad\xffutf8", "\u2028"} {
		var back string
		if err := json.Unmarshal(appendJSONString(nil, s), &back); err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back != want {
			t.Errorf("round trip %q -> %q", s, back)
		}
	}
}

func TestFoldString(t *testing.T) {
	for in, want := range map[string]string{"kamau": "kamau", "Kamau": "kamau", "Müller": "muller", "GARCÍA": "garcia", "José": "jose", "Chloé": "chloe"} {
		if got := foldString(in); got != want {
			t.Errorf("foldString(%q) = %q, want %q", in, got, want)
		}
	}
}
