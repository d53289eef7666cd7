package e2e

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// deltaScopes are the fixture node delta's scopes: every interaction the
// fhir_guard tests expect to pass, and dangerous operations that the
// profiles must refuse even though a scope names them.
var deltaScopes = []string{
	"Patient.search", "Patient.read", "Patient.vread", "Patient.history", "Patient.create",
	"Patient.update", "Patient.patch", "Patient.delete", "Patient.$ihe-pix", "Patient.$match",
	"Patient.$expunge", "Patient.$export", "Patient.$diff", "system.$expunge", "system.$export",
	"system.$reindex", "system.capabilities", "system.batch", "system.transaction", "system.search",
	"system.history", "Observation.search", "Organization.search", "Subscription.create", "SearchParameter.create", "Binary.create",
}

// guardResp is an answer through the gateway.
type guardResp struct {
	status int
	ctype  string
	body   string
}

// rawH1 sends one HTTP/1.1 request exactly as written (the target
// unnormalised) on a fresh TLS connection.
func (g *gateway) rawH1(t testing.TB, cert, method, target string, header http.Header, body string) (guardResp, error) {
	t.Helper()
	cfg := g.tlsConfig(t, cert)
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", g.addr(), cfg)
	if err != nil {
		return guardResp{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n", method, target, g.port)
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if body != "" || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return guardResp{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return guardResp{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return guardResp{resp.StatusCode, resp.Header.Get("Content-Type"), string(data)}, err
}

// h2 sends a request that must travel over HTTP/2; see send.
func (g *gateway) h2(c *http.Client, method, target string, header http.Header, body string) (guardResp, error) {
	return g.send(c, 2, method, target, header, body)
}

// h2or1 sends a request with the client's own protocol; see send.
func (g *gateway) h2or1(c *http.Client, method, target string, header http.Header, body string) (guardResp, error) {
	return g.send(c, 0, method, target, header, body)
}

// send sends a request with the target as written: an opaque URL reaches
// the wire (request line or :path) unchanged. protoMajor, when not 0, is
// the protocol the answer must come over.
func (g *gateway) send(c *http.Client, protoMajor int, method, target string, header http.Header, body string) (guardResp, error) {
	u := &url.URL{Scheme: "https", Host: fmt.Sprintf("localhost:%d", g.port), Opaque: target}
	if strings.HasPrefix(target, "//") {
		// An opaque "//…" would be sent as an absolute URL; a path with
		// its raw form set is sent as written.
		p, q, _ := strings.Cut(target, "?")
		u.Opaque, u.RawPath, u.RawQuery = "", p, q
		u.Path, _ = url.PathUnescape(p)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "https://localhost/", rd)
	if err != nil {
		return guardResp{}, err
	}
	req.URL = u
	req.Host = u.Host
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return guardResp{}, err
	}
	defer resp.Body.Close()
	if protoMajor != 0 && resp.ProtoMajor != protoMajor {
		return guardResp{}, fmt.Errorf("answered over %s, want HTTP/%d", resp.Proto, protoMajor)
	}
	data, err := io.ReadAll(resp.Body)
	return guardResp{resp.StatusCode, resp.Header.Get("Content-Type"), string(data)}, err
}

// outcomeReason checks that body is a FHIR OperationOutcome naming a
// crgate refusal and returns its "<module>/<reason>".
func outcomeReason(r guardResp) (string, error) {
	if !strings.HasPrefix(r.ctype, "application/fhir+json") {
		return "", fmt.Errorf("content type %q, want application/fhir+json", r.ctype)
	}
	var oo struct {
		ResourceType string
		Issue        []struct {
			Code    string
			Details struct {
				Coding []struct{ System, Code string }
			}
		}
	}
	if err := json.Unmarshal([]byte(r.body), &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 ||
		len(oo.Issue[0].Details.Coding) != 1 {
		return "", fmt.Errorf("not a crgate OperationOutcome: %.300s", r.body)
	}
	return oo.Issue[0].Details.Coding[0].Code, nil
}

// surface is one thing behind the gateway that no node may reach.
type surface struct {
	method, path string
	status       int // for the path as written
}

func blockedSurfaces() []surface {
	var s []surface
	add := func(method string, status int, paths ...string) {
		for _, p := range paths {
			s = append(s, surface{method, p, status})
		}
	}
	// HAPI FHIR testing UI pages and static files (DOMAIN.md).
	add("GET", 403, "/", "/home", "/about", "/conformance", "/create", "/delete", "/history-server", "/history-type",
		"/page", "/read", "/resource", "/search", "/transaction", "/update", "/validate", "/get-tags",
		"/css/style.css", "/fa/fa.css", "/fonts/x.woff", "/img/logo.png", "/js/app.js", "/resources/x.html")
	add("POST", 403, "/page", "/validate")
	// HAPI's other non-FHIR endpoints.
	add("GET", 403, "/actuator", "/actuator/env", "/actuator/health", "/fhir/swagger-ui/index.html", "/fhir/api-docs",
		"/hapi/fhir/api-docs", "/mcp/message", "/sse", "/cds-services", "/content/x", "/web/x")
	// Dangerous operations, at every level, though delta's scopes name
	// $expunge, $export, $diff and $reindex.
	add("POST", 403, "/fhir/$expunge", "/fhir/Patient/$expunge", "/fhir/Patient/p-0001/$expunge",
		"/fhir/$delete-expunge", "/fhir/$reindex", "/fhir/$reindex-terminology", "/fhir/$mark-all-resources-for-reindexing",
		"/fhir/$perform-reindexing-pass", "/fhir/ValueSet/$invalidate-expansion", "/fhir/$partition-management-create-partition",
		"/fhir/$mdm-clear", "/fhir/Patient/p-0001/$diff", "/fhir/Patient/p-0001/$meta-delete", "/fhir/$import",
		"/hapi/fhir/$expunge", "/baseR4/Patient/$expunge")
	add("GET", 403, "/fhir/$export", "/fhir/Patient/$export", "/fhir/$export-poll-status")
	// A Subscription and a SearchParameter, though delta's scopes name
	// their create: the registry would call the endpoint a Subscription
	// names (SSRF), and a SearchParameter changes every node's searches.
	add("POST", 403, "/fhir/Subscription", "/fhir/SearchParameter")
	// Conditional and multiple DELETE, parameterised DELETE.
	add("DELETE", 403, "/fhir/Patient?identifier=urn:oid:1|1", "/fhir/Patient", "/fhir/Patient/p-0001?_cascade=delete",
		"/fhir/Patient/p-0001?_expunge=true")
	// OpenCR's UI and admin routes.
	add("GET", 403, "/crux", "/crux/index.html", "/ocrux/config", "/match/config", "/user/list", "/csv/export", "/config/x")
	add("POST", 403, "/ocrux/user/authenticate", "/updateConfig", "/match/run", "/csv/upload")
	// Elasticsearch.
	add("GET", 403, "/_cluster/health", "/_cluster/settings", "/_cat/indices", "/_nodes", "/_snapshot", "/_scripts/opencr",
		"/_ingest/pipeline", "/_tasks", "/_security/_authenticate", "/_license", "/_watcher/stats", "/patients/_search",
		"/_search", "/patients/_search?script_fields=x", "/_all")
	add("POST", 403, "/_shutdown", "/_bulk", "/_reindex", "/patients/_delete_by_query", "/patients/_update_by_query",
		"/patients/_forcemerge", "/patients/_close", "/patients/_open", "/_cluster/settings", "/_snapshot/repo/snap")
	add("PUT", 403, "/patients", "/_scripts/opencr")
	add("DELETE", 403, "/patients", "/_all")
	add("DELETE", 400, "/*")
	// Searches reaching a type delta may not search (Encounter) through a
	// nested _has, a _has after a chain, and the criteria of a
	// conditional update, which HAPI searches with.
	add("GET", 403, "/fhir/Patient?_has:Observation:subject:_has:Encounter:subject:status=x",
		"/fhir/Patient?organization._has:Encounter:service-provider:status=x")
	add("PUT", 403, "/fhir/Patient?_has:Encounter:subject:status=finished")
	// Chains, chained sorts and _list reaching a type delta may not
	// search (or read): an untyped link, whose types the registry would
	// pick, is refused whatever the node's scopes.
	add("GET", 403, "/fhir/Patient?organization.name=x", "/fhir/Patient?general-practitioner:Practitioner.name=x",
		"/fhir/Observation?subject:Patient.organization:Organization.partof:Organization.endpoint:Endpoint.name=x",
		"/fhir/Patient?_sort=general-practitioner:Practitioner.name", "/fhir/Patient?_sort=organization.name",
		"/fhir/Patient?_list=42")
	add("PUT", 403, "/fhir/Patient?general-practitioner.identifier=a|b")
	// A page of some search by its id, asked on a path HAPI ignores for
	// paging (delta may search Patient but not the whole system).
	add("GET", 400, "/fhir/Patient?_getpages=3b68200d-ac42-44d4-aca4-c0434cdd5f07", "/fhir/Patient/p-0001?_getpages=x",
		"/fhir/_search?_getpages=x", "/fhir/Patient?_GETPAGES=x")
	return s
}

// spelling is one way of writing a surface's path.
type spelling struct {
	name string
	// spell returns the target to send and the status the gateway must
	// answer, or "" to skip a path the spelling does not apply to.
	spell func(s surface) (string, int)
}

func splitQ(p string) (string, string) {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i], p[i:]
	}
	return p, ""
}

var spellings = []spelling{
	{"as-is", func(s surface) (string, int) { return s.path, s.status }},
	{"encoded-letter", func(s surface) (string, int) {
		p, q := splitQ(s.path)
		for i := 1; i < len(p); i++ {
			if c := p[i]; c >= 'a' && c <= 'z' {
				return p[:i] + fmt.Sprintf("%%%02X", c) + p[i+1:] + q, s.status
			}
		}
		return "", 0
	}},
	{"encoded-dollar-%24", func(s surface) (string, int) {
		if !strings.Contains(s.path, "$") {
			return "", 0
		}
		return strings.ReplaceAll(s.path, "$", "%24"), s.status
	}},
	{"encoded-dots-%2e", func(s surface) (string, int) { return "/fhir/%2e%2e" + s.path, 400 }},
	{"encoded-dot-upper-%2E", func(s surface) (string, int) { return "/fhir/Patient/%2E%2E/%2E%2E" + s.path, 400 }},
	{"encoded-slash-%2f", func(s surface) (string, int) { return "/fhir%2f..%2f" + s.path[1:], 400 }},
	{"encoded-backslash-%5c", func(s surface) (string, int) { return "/fhir%5c..%5c" + s.path[1:], 400 }},
	{"raw-backslash", func(s surface) (string, int) { return "/fhir\\..\\" + s.path[1:], 400 }},
	{"encoded-semicolon-%3b", func(s surface) (string, int) { p, q := splitQ(s.path); return p + "%3bx" + q, 400 }},
	{"jsessionid", func(s surface) (string, int) { p, q := splitQ(s.path); return p + ";jsessionid=x" + q, 400 }},
	{"dotdot-semicolon", func(s surface) (string, int) { return "/fhir/..;" + s.path, 400 }},
	{"overlong-utf8-%c0%ae", func(s surface) (string, int) { return "/fhir/%c0%ae%c0%ae" + s.path, 400 }},
	{"overlong-utf8-%e0%80%ae", func(s surface) (string, int) { return "/fhir/%e0%80%ae%e0%80%ae" + s.path, 400 }},
	{"overlong-slash-%c0%af", func(s surface) (string, int) { return "/fhir/..%c0%af" + s.path[1:], 400 }},
	{"double-slash", func(s surface) (string, int) { return "/" + s.path, 400 }},
	{"dot-segment", func(s surface) (string, int) { return "/." + s.path, 400 }},
	{"dotdot-segment", func(s surface) (string, int) { return "/fhir/Patient/.." + s.path, 400 }},
	{"encoded-nul", func(s surface) (string, int) { return "/fhir/%00" + s.path, 400 }},
	{"double-encoding", func(s surface) (string, int) { return "/fhir/%252e%252e" + s.path, 400 }},
	{"upper-case", func(s surface) (string, int) {
		p, q := splitQ(s.path)
		up := strings.ToUpper(p)
		if up == p {
			return "", 0
		}
		if s.status == 400 {
			// Refused for its query (paging), whatever the path's case.
			return up + q, 400
		}
		return up + q, 403
	}},
	{"trailing-slash", func(s surface) (string, int) {
		p, q := splitQ(s.path)
		if p == "/" {
			return "", 0
		}
		return p + "/" + q, 400
	}},
}

// TestFHIRGuardBlocksEverySurfaceHoweverSpelled sends every blocked
// surface of DOMAIN.md, each spelled many ways, over HTTP/1.1 (raw
// request lines) and HTTP/2 (raw :path), as a node whose scopes are
// broad, and in Bundle entries; every one must be refused with an
// OperationOutcome and none may reach the simulator.
func TestFHIRGuardBlocksEverySurfaceHoweverSpelled(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	type job struct {
		name, method, target string
		header               http.Header
		body                 string
		status               int // 0: any 4xx refusal
		h1only               bool
	}
	var jobs []job
	surfaces := blockedSurfaces()
	for _, s := range surfaces {
		for _, sp := range spellings {
			target, status := sp.spell(s)
			if target == "" {
				continue
			}
			jobs = append(jobs, job{name: sp.name, method: s.method, target: target, status: status})
		}
		// The same surface inside batch and transaction Bundles: FHIR-base
		// paths as base-relative urls, everything else by climbing out.
		for _, u := range entryURLs(s) {
			for _, typ := range []string{"batch", "transaction"} {
				body := `{"resourceType":"Bundle","type":"` + typ + `","entry":[` +
					`{"request":{"method":"GET","url":"Patient/p-0001"}},` +
					`{"request":{"method":"` + s.method + `","url":` + jsonString(u) + `}}]}`
				jobs = append(jobs, job{name: "bundle-" + typ + "-entry " + s.method + " " + u, method: "POST", target: "/fhir",
					header: http.Header{"Content-Type": {"application/fhir+json"}}, body: body})
			}
		}
	}
	// A request target only HTTP/1.1 can carry: absolute-form, whose path
	// would be judged apart from its authority.
	for _, s := range surfaces {
		p := fmt.Sprintf("https://localhost:%d%s", g.port, s.path)
		jobs = append(jobs, job{name: "absolute-form", method: s.method, target: p, status: 400, h1only: true})
	}
	h2c := g.client(t, "delta", http2)
	var mu sync.Mutex
	var failures []string
	work := make(chan job)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				for _, proto := range []string{"h1", "h2"} {
					if proto == "h2" && j.h1only {
						continue
					}
					var r guardResp
					var err error
					if proto == "h1" {
						r, err = g.rawH1(t, "delta", j.method, j.target, j.header, j.body)
					} else {
						r, err = g.h2(h2c, j.method, j.target, j.header, j.body)
					}
					reason, oerr := outcomeReason(r)
					statusOK := r.status == j.status || (j.status == 0 && r.status >= 400 && r.status <= 403)
					if err != nil || !statusOK || oerr != nil || !strings.HasPrefix(reason, "fhir_guard/") {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%s %s: %s %s: status %d (want %d), reason %q, %v %v",
							proto, j.name, j.method, j.target, r.status, j.status, reason, err, oerr))
						mu.Unlock()
					}
				}
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	for i, f := range failures {
		if i == 40 {
			t.Errorf("… and %d more", len(failures)-40)
			break
		}
		t.Error(f)
	}
	t.Logf("%d requests (%d surfaces, %d spellings, Bundle entries), each over HTTP/1.1 and HTTP/2", len(jobs), len(surfaces), len(spellings))

	// "OPTIONS *" is answered by Go's HTTP server itself (200, no body)
	// before any handler runs; it must not reach the registry, which the
	// record check below proves.
	if r, err := g.rawH1(t, "delta", "OPTIONS", "*", nil, ""); err != nil || r.body != "" {
		t.Errorf("OPTIONS *: %d %q, %v", r.status, r.body, err)
	}

	if recs := g.sim.records(t); len(recs) != 0 {
		for i, r := range recs[:min(len(recs), 10)] {
			t.Errorf("reached the simulator (%d): %s %s", i, r.Method, r.RequestURI)
		}
		t.Fatalf("%d refused requests reached the simulator", len(recs))
	}
	m := g.metrics(t)
	for _, reason := range []string{"dangerous_operation", "bulk_data", "conditional_delete", "hapi_tester_ui", "hapi_non_fhir",
		"opencr_admin", "elasticsearch_api", "elasticsearch_script", "path_semicolon", "path_overlong_utf8", "path_encoded_dot"} {
		if !strings.Contains(m, `crgate_fhir_guard_refused_total{node="delta",reason="`+reason+`"}`) {
			t.Errorf("metrics lack refusals for %s", reason)
		}
	}
}

// entryURLs are ways to name a surface from inside a Bundle entry.
func entryURLs(s surface) []string {
	p, q := splitQ(s.path)
	if rest, ok := strings.CutPrefix(p, "/fhir/"); ok {
		return []string{rest + q, strings.ReplaceAll(rest, "$", "%24") + q, "/" + rest + q, "Patient/../" + rest + q}
	}
	if strings.HasPrefix(p, "/fhir") {
		return []string{"./" + p[len("/fhir"):] + q}
	}
	return []string{".." + p + q, "..;" + p + q, "%2e%2e" + p + q, "http://localhost" + p + q}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestFHIRGuardPassesWhatScopesGrant: each allowed interaction reaches the
// simulator once, with exactly the canonical path (and the body as sent);
// the same interactions from a node without the scope are refused with an
// OperationOutcome and reach nothing.
func TestFHIRGuardPassesWhatScopesGrant(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	fhirJSON := http.Header{"Content-Type": {"application/fhir+json"}}
	patient := `{"resourceType":"Patient","id":"p-0001","name":[{"family":"Test"}]}`
	batch := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient?family=x"}},{"request":{"method":"GET","url":"Patient/p-0001"}}]}`
	cases := []struct {
		name, method, target string
		header               http.Header
		body                 string
		forwarded            string // the request target the simulator must see
		lacking              string // a node without the scope: alpha (Patient.search, Patient.read)
	}{
		{"search-type", "GET", "/fhir/Patient?family=Smith&_count=2", nil, "", "/fhir/Patient?family=Smith&_count=2", ""},
		{"search-type-post", "POST", "/fhir/Patient/_search", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "family=Smith", "/fhir/Patient/_search", ""},
		{"read-encoded", "GET", "/fhir/%50atient/p-0001", nil, "", "/fhir/Patient/p-0001", ""},
		{"read-other-base", "GET", "/hapi/fhir/Patient/p-0001", nil, "", "/hapi/fhir/Patient/p-0001", ""},
		{"vread", "GET", "/fhir/Patient/p-0001/_history/1", nil, "", "/fhir/Patient/p-0001/_history/1", "alpha"},
		{"history-instance", "GET", "/fhir/Patient/p-0001/_history", nil, "", "/fhir/Patient/p-0001/_history", "alpha"},
		{"history-type", "GET", "/baseR4/Patient/_history", nil, "", "/baseR4/Patient/_history", "alpha"},
		{"history-system", "GET", "/fhir/_history", nil, "", "/fhir/_history", "alpha"},
		{"pix-encoded-dollar", "GET", "/fhir/Patient/%24ihe-pix?sourceIdentifier=urn:oid:1.3.6.1.4.1.21367.3000.1.6|IHERED-1", nil, "", "/fhir/Patient/$ihe-pix?sourceIdentifier=urn:oid:1.3.6.1.4.1.21367.3000.1.6|IHERED-1", "alpha"},
		{"match", "POST", "/fhir/Patient/$match", fhirJSON, `{"resourceType":"Parameters"}`, "/fhir/Patient/$match", "alpha"},
		{"capabilities", "GET", "/fhir/metadata", nil, "", "/fhir/metadata", "alpha"},
		{"search-system", "GET", "/fhir?_type=Patient", nil, "", "/fhir?_type=Patient", "alpha"},
		{"compartment", "GET", "/fhir/Patient/p-0001/Observation", nil, "", "/fhir/Patient/p-0001/Observation", "alpha"},
		{"create", "POST", "/fhir/Patient", fhirJSON, patient, "/fhir/Patient", "alpha"},
		{"update", "PUT", "/fhir/Patient/p-0001", fhirJSON, patient, "/fhir/Patient/p-0001", "alpha"},
		{"patch", "PATCH", "/fhir/Patient/p-0001", http.Header{"Content-Type": {"application/json-patch+json"}}, `[{"op":"replace","path":"/active","value":true}]`, "/fhir/Patient/p-0001", "alpha"},
		{"delete", "DELETE", "/fhir/Patient/p-0002", nil, "", "/fhir/Patient/p-0002", "alpha"},
		{"batch", "POST", "/fhir", fhirJSON, batch, "/fhir", "alpha"},
		{"revinclude", "GET", "/fhir/Patient?family=Smith&_revinclude=Observation:subject", nil, "", "/fhir/Patient?family=Smith&_revinclude=Observation:subject", "alpha"},
		{"has-after-chain", "GET", "/fhir/Patient?organization:Organization._has:Observation:performer:code=x", nil, "", "/fhir/Patient?organization:Organization._has:Observation:performer:code=x", "alpha"},
		{"chain", "GET", "/fhir/Patient?organization:Organization.name=x", nil, "", "/fhir/Patient?organization:Organization.name=x", "alpha"},
		{"sort-chain", "GET", "/fhir/Patient?_sort=-organization:Organization.name", nil, "", "/fhir/Patient?_sort=-organization:Organization.name", "alpha"},
		{"contained", "GET", "/fhir/Patient?_contained=true&_containedType=container", nil, "", "/fhir/Patient?_contained=true&_containedType=container", "alpha"},
		{"filter", "GET", "/fhir/Patient?_filter=name%20eq%20x", nil, "", "/fhir/Patient?_filter=name%20eq%20x", "alpha"},
	}
	bothProtocols(t, func(t *testing.T, proto clientOption) {
		delta := g.client(t, "delta", proto)
		alpha := g.client(t, "alpha", proto)
		for _, tc := range cases {
			t.Run("ok/"+tc.name, func(t *testing.T) {
				before := len(g.sim.records(t))
				r, err := g.h2or1(delta, tc.method, tc.target, tc.header, tc.body)
				if err != nil {
					t.Fatal(err)
				}
				if _, oerr := outcomeReason(r); oerr == nil {
					t.Fatalf("refused: %d %s", r.status, r.body)
				}
				recs := g.sim.records(t)[before:]
				if len(recs) != 1 {
					t.Fatalf("simulator saw %d requests, want 1", len(recs))
				}
				if recs[0].RequestURI != tc.forwarded || recs[0].Method != tc.method {
					t.Errorf("simulator saw %s %s, want %s %s", recs[0].Method, recs[0].RequestURI, tc.method, tc.forwarded)
				}
				if recs[0].BodyBytes != int64(len(tc.body)) || recs[0].BodySHA256 != sha256Hex(tc.body) {
					t.Errorf("simulator got a body of %d bytes, want the %d sent", recs[0].BodyBytes, len(tc.body))
				}
			})
			if tc.lacking == "" {
				continue
			}
			t.Run("fail/without-scope/"+tc.name, func(t *testing.T) {
				before := len(g.sim.records(t))
				r, err := g.h2or1(alpha, tc.method, tc.target, tc.header, tc.body)
				if err != nil {
					t.Fatal(err)
				}
				reason, oerr := outcomeReason(r)
				want := "fhir_guard/scope_missing"
				switch tc.name {
				case "revinclude", "has-after-chain", "chain", "sort-chain", "contained", "filter":
					want = "fhir_guard/search_reaches_unscoped_type"
				}
				if r.status != http.StatusForbidden || oerr != nil || reason != want {
					t.Fatalf("status %d, reason %q, %v; want 403 %s", r.status, reason, oerr, want)
				}
				if recs := g.sim.records(t)[before:]; len(recs) != 0 {
					t.Fatalf("simulator saw %s %s", recs[0].Method, recs[0].RequestURI)
				}
			})
		}
	})
}

// TestNodeAuthRefusalIsAnOperationOutcome: node_auth's 403 (a node
// disabled while its connection stays open) is rendered by fhir_outcome
// too.
func TestNodeAuthRefusalIsAnOperationOutcome(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	c := g.client(t, "bravo", http1)
	if r, err := g.h2or1(c, "GET", "/fhir/Patient?_count=1", nil, ""); err != nil || r.status != http.StatusOK {
		t.Fatalf("before disabling: %d %v", r.status, err)
	}
	if out, err := crgate("clients", "disable", "--file", g.clients, "--id", "bravo"); err != nil {
		t.Fatalf("crgate clients disable: %v\n%s", err, out)
	}
	waitFor(t, "the gateway to reload the clients file", 20*time.Second, func() bool {
		return g.logged("node registry reloaded", `"generation":1`)
	})
	r, err := g.h2or1(c, "GET", "/fhir/Patient?_count=1", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	reason, oerr := outcomeReason(r)
	if r.status != http.StatusForbidden || oerr != nil || reason != "node_auth/node_disabled" || !strings.Contains(r.body, `"code":"security"`) {
		t.Fatalf("status %d, reason %q, %v: %s", r.status, reason, oerr, r.body)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// refusedCase is a request a node's scopes would otherwise allow that
// the gateway must refuse with an OperationOutcome, reaching nothing.
type refusedCase struct {
	name, method, target string
	header               http.Header
	body                 string
	status               int
	reason               string
}

// refuseEach sends every case as delta over HTTP/1.1 and HTTP/2.
func refuseEach(t *testing.T, g *gateway, cases []refusedCase) {
	t.Helper()
	for _, tc := range cases {
		for _, proto := range []string{"h1", "h2"} {
			t.Run(proto+"/"+tc.name, func(t *testing.T) {
				before := len(g.sim.records(t))
				var r guardResp
				var err error
				if proto == "h1" {
					r, err = g.rawH1(t, "delta", tc.method, tc.target, tc.header, tc.body)
				} else {
					r, err = g.h2or1(g.client(t, "delta", http2), tc.method, tc.target, tc.header, tc.body)
				}
				if err != nil {
					t.Fatal(err)
				}
				reason, oerr := outcomeReason(r)
				if r.status != tc.status || oerr != nil || reason != tc.reason {
					t.Fatalf("status %d, reason %q, %v; want %d %s", r.status, reason, oerr, tc.status, tc.reason)
				}
				if recs := g.sim.records(t)[before:]; len(recs) != 0 {
					t.Fatalf("simulator saw %s %s", recs[0].Method, recs[0].RequestURI)
				}
			})
		}
	}
}

// TestFHIRGuardRefusesDirectiveHeaders: headers the registry reads as
// another request (a method override) or as a wider one (HAPI's
// X-Cascade, which deletes every resource referring to the one deleted)
// are refused on requests the node's scopes would otherwise allow, and
// reach nothing. (Their '_' spellings never get this far: Caddy drops
// header names with '_' or '.' unless a server lists them in
// expected_underscore_headers; fhir_guard's unit tests judge them.)
func TestFHIRGuardRefusesDirectiveHeaders(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	transaction := `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Patient/p-0002"}}]}`
	refuseEach(t, g, []refusedCase{
		{"cascade-delete", "DELETE", "/fhir/Patient/p-0002", http.Header{"X-Cascade": {"delete"}}, "", 403, "fhir_guard/conditional_delete"},
		{"cascade-on-transaction", "POST", "/fhir", http.Header{"Content-Type": {"application/fhir+json"}, "X-Cascade": {"delete"}}, transaction, 403, "fhir_guard/conditional_delete"},
		{"method-override", "GET", "/fhir/Patient/p-0002", http.Header{"X-Http-Method-Override": {"DELETE"}}, "", 400, "fhir_guard/method_override"},
	})
	// Without the header, the same DELETE is the node's to make.
	r, err := g.rawH1(t, "delta", "DELETE", "/fhir/Patient/p-0002", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, oerr := outcomeReason(r); oerr == nil {
		t.Fatalf("plain DELETE refused: %d %s", r.status, r.body)
	}
}

// TestFHIRGuardJudgesWriteBodies: a reference written as a search
// (Practitioner?name=x) makes the registry search that type for the node
// when it creates, updates or patches, and the outcome tells the node
// whether anything matched; such a reference needs the search it runs,
// in a JSON or XML body, a JSON Patch or a transaction entry, however it
// is spelled. A body of another type than its path names, and one the
// guard cannot read (Turtle), are refused. A reference the node may
// search passes, byte for byte.
func TestFHIRGuardJudgesWriteBodies(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	fhirJSON := http.Header{"Content-Type": {"application/fhir+json"}}
	reach := "fhir_guard/search_reaches_unscoped_type"
	refuseEach(t, g, []refusedCase{
		{"create", "POST", "/fhir/Patient", fhirJSON, `{"resourceType":"Patient","generalPractitioner":[{"reference":"Practitioner?name=Smith"}]}`, 403, reach},
		{"create-lower-case", "POST", "/fhir/Patient", fhirJSON, `{"resourceType":"Patient","generalPractitioner":[{"reference":"practitioner?name=Smith"}]}`, 403, reach},
		{"create-escaped", "POST", "/fhir/Patient", fhirJSON, `{"resourceType":"Patient","generalPractitioner":[{"reference":"Practitioner\u003Fname=Smith"}]}`, 403, reach},
		{"update-absolute", "PUT", "/fhir/Patient/p-0001", fhirJSON, `{"resourceType":"Patient","id":"p-0001","generalPractitioner":[{"reference":"https://registry.example/fhir/Practitioner/?name=Smith"}]}`, 403, reach},
		{"create-scoped-type-unscoped-criteria", "POST", "/fhir/Patient", fhirJSON, `{"resourceType":"Patient","managingOrganization":{"reference":"Organization?_has:Encounter:service-provider:status=finished"}}`, 403, reach},
		{"json-patch", "PATCH", "/fhir/Patient/p-0001", http.Header{"Content-Type": {"application/json-patch+json"}}, `[{"op":"add","path":"/generalPractitioner","value":[{"reference":"Practitioner?name=Smith"}]}]`, 403, reach},
		{"transaction-patch-binary", "POST", "/fhir", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"W3sib3AiOiJhZGQiLCJwYXRoIjoiL2dlbmVyYWxQcmFjdGl0aW9uZXIiLCJ2YWx1ZSI6W3sicmVmZXJlbmNlIjoiUHJhY3RpdGlvbmVyP25hbWU9U21pdGgifV19XQ=="},"request":{"method":"PATCH","url":"Patient/p-0001"}}]}`, 403, reach},
		{"transaction-entry", "POST", "/fhir", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","generalPractitioner":[{"reference":"Practitioner?name=Smith"}]},"request":{"method":"POST","url":"Patient"}}]}`, 403, reach},
		{"update-xml", "PUT", "/fhir/Patient/p-0001", http.Header{"Content-Type": {"application/fhir+xml"}}, `<Patient xmlns="http://hl7.org/fhir"><id value="p-0001"/><generalPractitioner><reference value="Practitioner?name=Smith"/></generalPractitioner></Patient>`, 403, reach},
		{"update-xml-char-ref", "PUT", "/fhir/Patient/p-0001", http.Header{"Content-Type": {"application/fhir+xml"}}, `<Patient xmlns="http://hl7.org/fhir"><generalPractitioner><reference value="Practitioner&#x3F;name=Smith"/></generalPractitioner></Patient>`, 403, reach},
		{"binary-security-context", "POST", "/fhir/Binary", http.Header{"Content-Type": {"application/pdf"}, "X-Security-Context": {"Practitioner?name=Smith"}}, "%PDF-1.4", 403, reach},
		{"create-other-type", "POST", "/fhir/Patient", fhirJSON, `{"resourceType":"Subscription","channel":{"type":"rest-hook","endpoint":"http://127.0.0.1:9200/"}}`, 400, "fhir_guard/resource_type_mismatch"},
		{"update-turtle", "PUT", "/fhir/Patient/p-0001", http.Header{"Content-Type": {"text/turtle"}}, `<> a fhir:Patient .`, 415, "fhir_guard/unsupported_content_type"},
	})
	body := `{"resourceType":"Patient","managingOrganization":{"reference":"Organization?name=Acme"}}`
	before := len(g.sim.records(t))
	r, err := g.rawH1(t, "delta", "POST", "/fhir/Patient", fhirJSON, body)
	if err != nil {
		t.Fatal(err)
	}
	if _, oerr := outcomeReason(r); oerr == nil {
		t.Fatalf("a conditional reference the node may search was refused: %d %s", r.status, r.body)
	}
	recs := g.sim.records(t)[before:]
	if len(recs) != 1 || recs[0].BodySHA256 != sha256Hex(body) {
		t.Fatalf("simulator saw %d requests, or another body", len(recs))
	}
	// A raw Binary is stored as bytes, unread; so is one whose
	// X-Security-Context is a plain reference.
	pdf := "%PDF-1.4 Practitioner?name=Smith"
	before = len(g.sim.records(t))
	r, err = g.rawH1(t, "delta", "POST", "/fhir/Binary", http.Header{"Content-Type": {"application/pdf"}, "X-Security-Context": {"Patient/p-0001"}}, pdf)
	if err != nil {
		t.Fatal(err)
	}
	if _, oerr := outcomeReason(r); oerr == nil {
		t.Fatalf("a raw Binary was refused: %d %s", r.status, r.body)
	}
	if recs := g.sim.records(t)[before:]; len(recs) != 1 || recs[0].BodySHA256 != sha256Hex(pdf) {
		t.Fatalf("simulator saw %d requests, or another body", len(recs))
	}
}
