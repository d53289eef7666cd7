package fhirguard

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/crgate/crgate/internal/fhirreq"
	"github.com/crgate/crgate/internal/gate"
	"github.com/crgate/crgate/internal/scope"
)

func newGuard(t *testing.T, g *Guard) *Guard {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := g.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	return g
}

func testNode(t *testing.T, scopes ...string) *gate.Node {
	t.Helper()
	set, err := scope.ParseSet(scopes)
	if err != nil {
		t.Fatal(err)
	}
	return &gate.Node{ID: "n1", Name: "Node 1", Scopes: set, ScopeList: scopes}
}

// allScopes is a node with every scope the tests exercise, so that a
// refusal in a "fail/" case comes from the rule under test, not a missing
// scope.
var allScopes = []string{
	"Patient.read", "Patient.vread", "Patient.search", "Patient.history", "Patient.create", "Patient.update",
	"Patient.patch", "Patient.delete", "Patient.$ihe-pix", "Patient.$match", "Patient.$expunge", "Patient.$export",
	"Observation.search", "system.batch", "system.transaction", "system.capabilities", "system.search",
	"system.history", "system.$expunge", "system.$export", "system.$reindex", "Patient.$everything",
}

type req struct {
	method, target string
	header         http.Header
	body           string
}

func serve(t *testing.T, g *Guard, node *gate.Node, rq req) (upstream *http.Request, upBody string, err error) {
	t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r := httptest.NewRequest(rq.method, "https://localhost/", body)
	r.RequestURI = rq.target
	for k, v := range rq.header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	if node != nil {
		gate.SetNode(r, node)
	}
	next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		upstream = r
		b, _ := io.ReadAll(r.Body)
		upBody = string(b)
		return nil
	})
	err = g.ServeHTTP(w, r, next)
	return upstream, upBody, err
}

func refusalOf(err error) (int, string) {
	var he caddyhttp.HandlerError
	var ref *gate.Refusal
	if !errors.As(err, &he) || !errors.As(err, &ref) {
		return 0, ""
	}
	return he.StatusCode, ref.Reason
}

var (
	fhirJSONHeader = http.Header{"Content-Type": {"application/fhir+json"}}
	formHeader     = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
)

func bundleOf(typ string, entries ...string) string {
	return `{"resourceType":"Bundle","type":"` + typ + `","entry":[` + strings.Join(entries, ",") + `]}`
}

func entry(method, url string) string {
	return `{"request":{"method":"` + method + `","url":"` + url + `"}}`
}

func TestGuard(t *testing.T) {
	g := newGuard(t, &Guard{Bases: []string{"/fhir", "/hapi/fhir"}, Profiles: []string{"hapi", "opencr", "elasticsearch"}, MaxBodyBytes: 4096})
	all := testNode(t, allScopes...)
	searchOnly := testNode(t, "Patient.search")
	tests := []struct {
		name   string
		node   *gate.Node
		rq     req
		status int
		reason string
		// upstream path for allowed requests
		path string
	}{
		{"ok/search", all, req{method: "GET", target: "/fhir/Patient?family=x"}, 0, "", "/fhir/Patient"},
		{"ok/read-encoded", all, req{method: "GET", target: "/fhir/%50atient/p-1"}, 0, "", "/fhir/Patient/p-1"},
		{"ok/pix-encoded-dollar", all, req{method: "GET", target: "/fhir/Patient/%24ihe-pix?sourceIdentifier=a|b"}, 0, "", "/fhir/Patient/$ihe-pix"},
		{"ok/head-read", all, req{method: "HEAD", target: "/hapi/fhir/Patient/p-1"}, 0, "", "/hapi/fhir/Patient/p-1"},
		{"ok/compartment", all, req{method: "GET", target: "/fhir/Patient/p-1/Observation"}, 0, "", "/fhir/Patient/p-1/Observation"},
		{"ok/post-search-form", all, req{method: "POST", target: "/fhir/Patient/_search", header: formHeader, body: "family=x"}, 0, "", "/fhir/Patient/_search"},
		{"ok/conditional-update", all, req{method: "PUT", target: "/fhir/Patient?identifier=a|b", header: fhirJSONHeader, body: `{"resourceType":"Patient"}`}, 0, "", "/fhir/Patient"},
		{"ok/create-if-none-exist", all, req{method: "POST", target: "/fhir/Patient", header: http.Header{"Content-Type": {"application/fhir+json"}, "If-None-Exist": {"identifier=a|b"}}, body: `{"resourceType":"Patient"}`}, 0, "", "/fhir/Patient"},
		{"ok/delete-instance", all, req{method: "DELETE", target: "/fhir/Patient/p-1"}, 0, "", "/fhir/Patient/p-1"},
		{"ok/batch", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "Patient?family=x"), entry("GET", "Patient/p-1"))}, 0, "", "/fhir"},
		{"ok/transaction-with-charset", all, req{method: "POST", target: "/fhir", header: http.Header{"Content-Type": {"application/fhir+json; charset=UTF-8"}}, body: bundleOf("transaction", entry("POST", "Patient"))}, 0, "", "/fhir"},

		{"ok/include-scoped", all, req{method: "GET", target: "/fhir/Observation?_include=Observation:subject:Patient"}, 0, "", "/fhir/Observation"},
		{"ok/revinclude-scoped", all, req{method: "GET", target: "/fhir/Patient?_revinclude=Observation:subject"}, 0, "", "/fhir/Patient"},
		{"fail/include-unscoped", searchOnly, req{method: "GET", target: "/fhir/Patient?_include=Patient:general-practitioner:Practitioner"}, 403, reasonSearchReach, ""},
		{"fail/include-no-target", all, req{method: "GET", target: "/fhir/Patient?_include=Patient:link"}, 403, reasonSearchReach, ""},
		{"fail/include-star", all, req{method: "GET", target: "/fhir/Patient?_include=*"}, 403, reasonSearchReach, ""},
		{"fail/include-iterate-unscoped", searchOnly, req{method: "GET", target: "/fhir/Patient?_include:iterate=Patient:link:RelatedPerson"}, 403, reasonSearchReach, ""},
		{"fail/revinclude-unscoped", searchOnly, req{method: "GET", target: "/fhir/Patient?_revinclude=Observation:subject"}, 403, reasonSearchReach, ""},
		{"fail/revinclude-encoded", searchOnly, req{method: "GET", target: "/fhir/Patient?%5Frevinclude=Observation%3Asubject"}, 403, reasonSearchReach, ""},
		{"fail/has-unscoped", searchOnly, req{method: "GET", target: "/fhir/Patient?_has:Observation:subject:code=1234"}, 403, reasonSearchReach, ""},
		{"ok/has-scoped", all, req{method: "GET", target: "/fhir/Patient?_has:Observation:subject:code=1234"}, 0, "", "/fhir/Patient"},
		{"ok/has-nested-scoped", all, req{method: "GET", target: "/fhir/Patient?_has:Observation:subject:_has:Observation:part-of:code=1"}, 0, "", "/fhir/Patient"},
		{"ok/name-starting-with-has", searchOnly, req{method: "GET", target: "/fhir/Patient?_hashed=1&x_has:A=1"}, 0, "", "/fhir/Patient"},
		{"fail/has-nested-unscoped", all, req{method: "GET", target: "/fhir/Patient?_has:Observation:patient:_has:AuditEvent:entity:agent=u-1"}, 403, reasonSearchReach, ""},
		{"fail/has-after-chain", searchOnly, req{method: "GET", target: "/fhir/Patient?organization._has:Observation:performer:code=x"}, 403, reasonSearchReach, ""},
		{"fail/has-after-typed-chain", searchOnly, req{method: "GET", target: "/fhir/Patient?general-practitioner:Practitioner._has:Observation:performer:code=x"}, 403, reasonSearchReach, ""},
		{"fail/has-encoded-after-chain", searchOnly, req{method: "GET", target: "/fhir/Patient?organization.%5Fhas%3AObservation%3Aperformer%3Acode=x"}, 403, reasonSearchReach, ""},
		{"fail/conditional-update-has-unscoped", testNode(t, "Patient.update", "Patient.create"), req{method: "PUT", target: "/fhir/Patient?_has:Observation:subject:code=x", header: fhirJSONHeader, body: "{}"}, 403, reasonSearchReach, ""},
		{"fail/conditional-patch-has-unscoped", testNode(t, "Patient.patch"), req{method: "PATCH", target: "/fhir/Patient?identifier=a|b&_has:Observation:subject:code=x", header: fhirJSONHeader, body: "[]"}, 403, reasonSearchReach, ""},
		{"fail/if-none-exist-has-unscoped", testNode(t, "Patient.create", "Patient.search"), req{method: "POST", target: "/fhir/Patient", header: http.Header{"Content-Type": {"application/fhir+json"}, "If-None-Exist": {"_has:Observation:subject:code=x"}}, body: "{}"}, 403, reasonSearchReach, ""},
		{"fail/if-none-exist-typed-has-unscoped", testNode(t, "Patient.create", "Patient.search"), req{method: "POST", target: "/fhir/Patient", header: http.Header{"Content-Type": {"application/fhir+json"}, "If-None-Exist": {"Patient?_has:Observation:subject:code=x"}}, body: "{}"}, 403, reasonSearchReach, ""},
		{"fail/entry-if-none-exist-has-unscoped", testNode(t, "system.transaction", "Patient.create", "Patient.search"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"request":{"method":"POST","url":"Patient","ifNoneExist":"_has:Observation:subject:code=x"}}`)}, 403, reasonSearchReach, ""},
		{"ok/entry-if-none-exist-scoped", testNode(t, "system.transaction", "Patient.create", "Patient.search", "Observation.search"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"request":{"method":"POST","url":"Patient","ifNoneExist":"_has:Observation:subject:code=x"}}`)}, 0, "", "/fhir"},
		{"ok/page-at-base", all, req{method: "GET", target: "/fhir?_getpages=3b68200d-ac42-44d4-aca4-c0434cdd5f07&_getpagesoffset=20&_count=20&_bundletype=searchset"}, 0, "", "/fhir"},
		{"ok/page-head", all, req{method: "HEAD", target: "/hapi/fhir?_getpages=abc"}, 0, "", "/hapi/fhir"},
		{"fail/page-without-system-search", searchOnly, req{method: "GET", target: "/fhir?_getpages=abc&_getpagesoffset=20"}, 403, reasonScope, ""},
		{"fail/page-on-type", all, req{method: "GET", target: "/fhir/Patient?_getpages=abc"}, 400, reasonPaging, ""},
		{"fail/page-on-instance", all, req{method: "GET", target: "/fhir/Patient/p-1?_getpages=abc"}, 400, reasonPaging, ""},
		{"fail/page-on-compartment", all, req{method: "GET", target: "/fhir/Patient/p-1/Observation?_getpages=abc"}, 400, reasonPaging, ""},
		{"fail/page-on-base-search", all, req{method: "GET", target: "/fhir/_search?_getpages=abc"}, 400, reasonPaging, ""},
		{"fail/page-post-form", all, req{method: "POST", target: "/fhir/_search", header: formHeader, body: "_getpages=abc"}, 400, reasonPaging, ""},
		{"fail/page-post-base", all, req{method: "POST", target: "/fhir?_getpages=abc", header: fhirJSONHeader, body: bundleOf("batch")}, 400, reasonPaging, ""},
		{"fail/page-case", all, req{method: "GET", target: "/fhir/Patient?_GetPages=abc"}, 400, reasonPaging, ""},
		{"fail/page-encoded", all, req{method: "GET", target: "/fhir/Patient?family=x&%5Fgetpages=abc"}, 400, reasonPaging, ""},
		{"fail/page-after-semicolon", all, req{method: "GET", target: "/fhir/Patient?family=x;_getpages=abc"}, 400, reasonPaging, ""},
		{"fail/page-twice", all, req{method: "GET", target: "/fhir?_getpages=abc&_getpages=def"}, 400, reasonPaging, ""},
		{"fail/page-in-entry", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "Patient?_getpages=abc"))}, 400, reasonPaging, ""},
		// Chains reveal whether the linked types match: each link names its
		// type, and the node must search it.
		{"fail/chain-untyped", all, req{method: "GET", target: "/fhir/Patient?organization.name=x"}, 403, reasonSearchReach, ""},
		{"fail/chain-typed-unscoped", all, req{method: "GET", target: "/fhir/Patient?general-practitioner:Practitioner.name=x"}, 403, reasonSearchReach, ""},
		{"ok/chain-typed-scoped", all, req{method: "GET", target: "/fhir/Observation?subject:Patient.name=x"}, 0, "", "/fhir/Observation"},
		{"ok/chain-typed-modifier", all, req{method: "GET", target: "/fhir/Observation?subject:Patient.name:exact=x"}, 0, "", "/fhir/Observation"},
		{"fail/chain-second-link-unscoped", all, req{method: "GET", target: "/fhir/Observation?subject:Patient.organization:Organization.name=x"}, 403, reasonSearchReach, ""},
		{"fail/chain-second-link-untyped", all, req{method: "GET", target: "/fhir/Observation?subject:Patient.link.name=x"}, 403, reasonSearchReach, ""},
		{"fail/chain-type-wrong-case", all, req{method: "GET", target: "/fhir/Observation?subject:patient.name=x"}, 403, reasonSearchReach, ""},
		{"fail/chain-encoded-dot", all, req{method: "GET", target: "/fhir/Patient?organization%2Ename=x"}, 403, reasonSearchReach, ""},
		{"fail/chain-empty-link", all, req{method: "GET", target: "/fhir/Patient?.name=x"}, 403, reasonSearchReach, ""},
		{"fail/has-after-typed-chain-unscoped-link", all, req{method: "GET", target: "/fhir/Patient?organization:Organization._has:Observation:performer:code=x"}, 403, reasonSearchReach, ""},
		{"ok/has-after-typed-chain-scoped", testNode(t, "Patient.search", "Organization.search", "Observation.search"), req{method: "GET", target: "/fhir/Patient?organization:Organization._has:Observation:performer:code=x"}, 0, "", "/fhir/Patient"},
		{"fail/chain-in-form", all, req{method: "POST", target: "/fhir/Patient/_search", header: formHeader, body: "organization.name=x"}, 403, reasonSearchReach, ""},
		{"fail/chain-in-entry", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "Patient?organization:Organization.name=x"))}, 403, reasonSearchReach, ""},
		{"fail/chain-in-if-none-exist", all, req{method: "POST", target: "/fhir/Patient", header: http.Header{"Content-Type": {"application/fhir+json"}, "If-None-Exist": {"organization.identifier=a|b"}}, body: "{}"}, 403, reasonSearchReach, ""},
		{"fail/chain-in-conditional-update", all, req{method: "PUT", target: "/fhir/Patient?general-practitioner:Practitioner.identifier=a|b", header: fhirJSONHeader, body: "{}"}, 403, reasonSearchReach, ""},
		// HAPI sorts by one chained link; the order reveals the other type.
		{"ok/sort", searchOnly, req{method: "GET", target: "/fhir/Patient?_sort=-family,given,_lastUpdated"}, 0, "", "/fhir/Patient"},
		{"fail/sort-chain-untyped", all, req{method: "GET", target: "/fhir/Patient?_sort=organization.name"}, 403, reasonSearchReach, ""},
		{"fail/sort-chain-typed-unscoped", all, req{method: "GET", target: "/fhir/Patient?_sort=family,-organization:Organization.name"}, 403, reasonSearchReach, ""},
		{"fail/sort-chain-dstu2-modifier", all, req{method: "GET", target: "/fhir/Patient?_sort:desc=organization.name"}, 403, reasonSearchReach, ""},
		{"ok/sort-chain-typed-scoped", all, req{method: "GET", target: "/fhir/Observation?_sort=-subject:Patient.birthdate"}, 0, "", "/fhir/Observation"},
		// _list answers with a List's entries.
		{"fail/list-unscoped", all, req{method: "GET", target: "/fhir/Patient?_list=42"}, 403, reasonSearchReach, ""},
		{"fail/list-encoded", all, req{method: "GET", target: "/fhir/Patient?%5Flist=42"}, 403, reasonSearchReach, ""},
		{"ok/list-readable", testNode(t, "Patient.search", "List.read"), req{method: "GET", target: "/fhir/Patient?_list=42"}, 0, "", "/fhir/Patient"},
		// _contained and _filter reach any type.
		{"fail/contained", searchOnly, req{method: "GET", target: "/fhir/Patient?_contained=true&_containedType=container"}, 403, reasonSearchReach, ""},
		{"fail/contained-both", searchOnly, req{method: "GET", target: "/fhir/Patient?_contained=both"}, 403, reasonSearchReach, ""},
		{"ok/contained-false", searchOnly, req{method: "GET", target: "/fhir/Patient?_contained=false"}, 0, "", "/fhir/Patient"},
		{"fail/filter", searchOnly, req{method: "GET", target: "/fhir/Patient?_filter=name%20eq%20x"}, 403, reasonSearchReach, ""},
		{"ok/filter-system-search", all, req{method: "GET", target: "/fhir/Patient?_filter=name%20eq%20x"}, 0, "", "/fhir/Patient"},
		// Conditional references in write bodies: the registry searches
		// Type?criteria for the node and links the one match.
		{"fail/create-match-url-unscoped", testNode(t, "Patient.create"), req{method: "POST", target: "/fhir/Patient", header: fhirJSONHeader, body: `{"resourceType":"Patient","managingOrganization":{"reference":"Organization?name=Acme"}}`}, 403, reasonSearchReach, ""},
		{"fail/create-match-url-escaped", testNode(t, "Patient.create"), req{method: "POST", target: "/fhir/Patient", header: fhirJSONHeader, body: `{"resourceType":"Patient","managingOrganization":{"reference":"Organization\u003fname=Acme"}}`}, 403, reasonSearchReach, ""},
		{"fail/create-match-url-absolute", testNode(t, "Patient.create"), req{method: "POST", target: "/fhir/Patient", header: fhirJSONHeader, body: `{"resourceType":"Patient","generalPractitioner":[{"reference":"https://registry.example/fhir/Practitioner?name=x"}]}`}, 403, reasonSearchReach, ""},
		{"fail/create-match-url-slash", testNode(t, "Patient.create"), req{method: "POST", target: "/fhir/Patient", header: fhirJSONHeader, body: `{"resourceType":"Patient","link":[{"other":{"reference":"RelatedPerson/?name=x"}}]}`}, 403, reasonSearchReach, ""},
		{"fail/create-match-url-reach", testNode(t, "Patient.create", "Organization.search"), req{method: "POST", target: "/fhir/Patient", header: fhirJSONHeader, body: `{"resourceType":"Patient","managingOrganization":{"reference":"Organization?_has:Observation:performer:code=x"}}`}, 403, reasonSearchReach, ""},
		{"fail/create-match-url-lower-case", testNode(t, "Patient.create"), req{method: "POST", target: "/fhir/Patient", header: fhirJSONHeader, body: `{"resourceType":"Patient","managingOrganization":{"reference":"organization?name=Acme"}}`}, 403, reasonSearchReach, ""},
		{"fail/create-match-url-kelvin", testNode(t, "Patient.create"), req{method: "POST", target: "/fhir/Patient", header: fhirJSONHeader, body: `{"resourceType":"Patient","extension":[{"url":"x","valueReference":{"reference":"TAS\u212a?status=ready"}}]}`}, 403, reasonSearchReach, ""},
		{"ok/create-match-url-scoped", testNode(t, "Patient.create", "Organization.search"), req{method: "POST", target: "/fhir/Patient", header: fhirJSONHeader, body: `{"resourceType":"Patient","managingOrganization":{"reference":"Organization?name=Acme"}}`}, 0, "", "/fhir/Patient"},
		{"ok/create-free-text-question", testNode(t, "Patient.create"), req{method: "POST", target: "/fhir/Patient", header: fhirJSONHeader, body: `{"resourceType":"Patient","name":[{"text":"Who? Patient?x"}],"managingOrganization":{"reference":"Organization/o-1"}}`}, 0, "", "/fhir/Patient"},
		{"fail/update-match-url", testNode(t, "Patient.update"), req{method: "PUT", target: "/fhir/Patient/p-1", header: fhirJSONHeader, body: `{"resourceType":"Patient","id":"p-1","extension":[{"url":"x","valueReference":{"reference":"Encounter?status=finished"}}]}`}, 403, reasonSearchReach, ""},
		{"fail/patch-match-url", testNode(t, "Patient.patch"), req{method: "PATCH", target: "/fhir/Patient/p-1", header: http.Header{"Content-Type": {"application/json-patch+json"}}, body: `[{"op":"replace","path":"/managingOrganization/reference","value":"Organization?name=Acme"}]`}, 403, reasonSearchReach, ""},
		{"fail/entry-resource-match-url", testNode(t, "system.transaction", "Patient.create"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"resource":{"resourceType":"Patient","managingOrganization":{"reference":"Organization?name=Acme"}},"request":{"method":"POST","url":"Patient"}}`)}, 403, reasonSearchReach, ""},
		{"ok/entry-conditional-update-url", testNode(t, "system.transaction", "Patient.update", "Patient.create"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"resource":{"resourceType":"Patient"},"request":{"method":"PUT","url":"Patient?identifier=a|b"}}`)}, 0, "", "/fhir"},
		// A raw Binary is stored as bytes; its X-Security-Context is a
		// reference HAPI resolves like any other.
		{"ok/binary-raw", testNode(t, "Binary.create"), req{method: "POST", target: "/fhir/Binary", header: http.Header{"Content-Type": {"application/pdf"}}, body: "%PDF-1.4 Organization?name=x"}, 0, "", "/fhir/Binary"},
		{"ok/binary-raw-latin1", testNode(t, "Binary.update"), req{method: "PUT", target: "/fhir/Binary/b-1", header: http.Header{"Content-Type": {"text/plain; charset=iso-8859-1"}}, body: "caf\xe9"}, 0, "", "/fhir/Binary/b-1"},
		{"fail/binary-security-context", testNode(t, "Binary.create"), req{method: "POST", target: "/fhir/Binary", header: http.Header{"Content-Type": {"application/pdf"}, "X-Security-Context": {"Patient?name=Smith"}}, body: "%PDF"}, 403, reasonSearchReach, ""},
		{"ok/binary-security-context-id", testNode(t, "Binary.create"), req{method: "POST", target: "/fhir/Binary", header: http.Header{"Content-Type": {"application/pdf"}, "X-Security-Context": {"Patient/p-1"}}, body: "%PDF"}, 0, "", "/fhir/Binary"},
		{"fail/binary-fhir-xml-match-url", testNode(t, "Binary.create"), req{method: "POST", target: "/fhir/Binary", header: http.Header{"Content-Type": {"application/fhir+xml"}}, body: `<Binary xmlns="http://hl7.org/fhir"><securityContext><reference value="Patient?name=Smith"/></securityContext></Binary>`}, 403, reasonSearchReach, ""},
		{"fail/binary-fhir-json-match-url", testNode(t, "Binary.create"), req{method: "POST", target: "/fhir/Binary", header: fhirJSONHeader, body: `{"resourceType":"Binary","securityContext":{"reference":"Patient?name=Smith"}}`}, 403, reasonSearchReach, ""},
		// XML write bodies are read the same way.
		{"ok/update-xml", all, req{method: "PUT", target: "/fhir/Patient/p-1", header: http.Header{"Content-Type": {"application/fhir+xml"}}, body: `<Patient xmlns="http://hl7.org/fhir"><id value="p-1"/><managingOrganization><reference value="Organization/o-1"/></managingOrganization></Patient>`}, 0, "", "/fhir/Patient/p-1"},
		{"fail/update-xml-match-url", all, req{method: "PUT", target: "/fhir/Patient/p-1", header: http.Header{"Content-Type": {"application/fhir+xml"}}, body: `<Patient xmlns="http://hl7.org/fhir"><id value="p-1"/><managingOrganization><reference value="Organization?name=Acme"/></managingOrganization></Patient>`}, 403, reasonSearchReach, ""},
		{"fail/update-xml-match-url-char-ref", all, req{method: "PUT", target: "/fhir/Patient/p-1", header: http.Header{"Content-Type": {"application/xml"}}, body: `<Patient xmlns="http://hl7.org/fhir"><managingOrganization><reference value="Organization&#63;name=Acme"/></managingOrganization></Patient>`}, 403, reasonSearchReach, ""},
		{"fail/patch-xml-match-url", all, req{method: "PATCH", target: "/fhir/Patient/p-1", header: http.Header{"Content-Type": {"application/xml-patch+xml"}}, body: `<diff><replace sel="/Patient/managingOrganization/reference/@value"><![CDATA[Organization?name=Acme]]></replace></diff>`}, 403, reasonSearchReach, ""},
		{"fail/update-xml-doctype", all, req{method: "PUT", target: "/fhir/Patient/p-1", header: http.Header{"Content-Type": {"application/fhir+xml"}}, body: `<!DOCTYPE Patient [<!ENTITY q "?">]><Patient xmlns="http://hl7.org/fhir"><managingOrganization><reference value="Organization&q;name=Acme"/></managingOrganization></Patient>`}, 400, reasonBadBody, ""},
		{"fail/update-xml-utf16", all, req{method: "PUT", target: "/fhir/Patient/p-1", header: http.Header{"Content-Type": {"application/fhir+xml"}}, body: "<?xml version=\"1.0\" encoding=\"UTF-16\"?><Patient/>"}, 400, reasonBadBody, ""},
		{"fail/update-xml-two-roots", all, req{method: "PUT", target: "/fhir/Patient/p-1", header: http.Header{"Content-Type": {"application/fhir+xml"}}, body: `<Patient/><Patient/>`}, 400, reasonBadBody, ""},
		// The body is of the type the path names (a server in front of
		// HAPI may run it as its own type).
		{"fail/create-type-mismatch", testNode(t, "Patient.create"), req{method: "POST", target: "/fhir/Patient", header: fhirJSONHeader, body: `{"resourceType":"Subscription"}`}, 400, reasonTypeMismatch, ""},
		{"fail/update-type-missing", testNode(t, "Patient.update"), req{method: "PUT", target: "/fhir/Patient/p-1", header: fhirJSONHeader, body: `{"id":"p-1"}`}, 400, reasonTypeMismatch, ""},
		{"fail/update-xml-type-mismatch", testNode(t, "Patient.update"), req{method: "PUT", target: "/fhir/Patient/p-1", header: http.Header{"Content-Type": {"application/fhir+xml"}}, body: `<Observation xmlns="http://hl7.org/fhir"/>`}, 400, reasonTypeMismatch, ""},
		{"ok/create-type-lower-case", testNode(t, "Patient.create"), req{method: "POST", target: "/fhir/Patient", header: fhirJSONHeader, body: `{"resourceType":"patient"}`}, 0, "", "/fhir/Patient"},
		{"ok/patch-array", testNode(t, "Patient.patch"), req{method: "PATCH", target: "/fhir/Patient/p-1", header: http.Header{"Content-Type": {"application/json-patch+json"}}, body: `[{"op":"replace","path":"/active","value":true}]`}, 0, "", "/fhir/Patient/p-1"},
		// A Subscription would have the registry call any URL.
		{"fail/subscription-create", testNode(t, "Subscription.create"), req{method: "POST", target: "/fhir/Subscription", header: fhirJSONHeader, body: `{"resourceType":"Subscription","channel":{"type":"rest-hook","endpoint":"http://127.0.0.1:9200/_shutdown"}}`}, 403, reasonDangerousOp, ""},
		{"fail/subscription-update", testNode(t, "Subscription.update"), req{method: "PUT", target: "/fhir/Subscription/s-1", header: fhirJSONHeader, body: `{}`}, 403, reasonDangerousOp, ""},
		{"fail/subscription-in-transaction", testNode(t, "system.transaction", "Subscription.create"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"resource":{"resourceType":"Subscription"},"request":{"method":"POST","url":"Subscription"}}`)}, 403, reasonDangerousOp, ""},
		{"fail/subscription-delete", testNode(t, "Subscription.delete"), req{method: "DELETE", target: "/fhir/Subscription/s-1"}, 403, reasonDangerousOp, ""},
		{"fail/searchparameter-create", testNode(t, "SearchParameter.create"), req{method: "POST", target: "/fhir/SearchParameter", header: fhirJSONHeader, body: `{"resourceType":"SearchParameter","code":"identifier","base":["Patient"],"status":"retired"}`}, 403, reasonDangerousOp, ""},
		{"fail/searchparameter-patch", testNode(t, "SearchParameter.patch"), req{method: "PATCH", target: "/fhir/SearchParameter/sp-1", header: http.Header{"Content-Type": {"application/json-patch+json"}}, body: `[]`}, 403, reasonDangerousOp, ""},
		{"ok/searchparameter-search", testNode(t, "SearchParameter.search"), req{method: "GET", target: "/fhir/SearchParameter?base=Patient"}, 0, "", "/fhir/SearchParameter"},
		{"ok/subscription-read", testNode(t, "Subscription.read"), req{method: "GET", target: "/fhir/Subscription/s-1"}, 0, "", "/fhir/Subscription/s-1"},
		// Write bodies the guard cannot read are refused, not passed.
		{"fail/update-form", all, req{method: "PUT", target: "/fhir/Patient/p-1", header: http.Header{"Content-Type": {"text/turtle"}}, body: `x`}, 415, reasonContentType, ""},
		{"fail/create-no-content-type", all, req{method: "POST", target: "/fhir/Patient", body: `{"resourceType":"Patient"}`}, 415, reasonContentType, ""},
		{"fail/create-gzip", all, req{method: "POST", target: "/fhir/Patient", header: http.Header{"Content-Type": {"application/fhir+json"}, "Content-Encoding": {"gzip"}}, body: "x"}, 415, reasonContentEncoding, ""},
		{"fail/create-duplicate-member", all, req{method: "POST", target: "/fhir/Patient", header: fhirJSONHeader, body: `{"resourceType":"Patient","managingOrganization":{"reference":"Organization/o-1","reference":"Organization?name=x"}}`}, 400, reasonBadBody, ""},
		{"fail/include-spaced-name", all, req{method: "GET", target: "/fhir/Patient?%20_include=*"}, 403, reasonSearchReach, ""},
		{"fail/has-spaced-name", searchOnly, req{method: "GET", target: "/fhir/Patient?+_has:Observation:subject:code=1"}, 403, reasonSearchReach, ""},
		{"fail/has-nested-malformed", all, req{method: "GET", target: "/fhir/Patient?_has:Observation:subject:_has:AuditEvent=x"}, 403, reasonSearchReach, ""},
		{"fail/include-in-form", searchOnly, req{method: "POST", target: "/fhir/Patient/_search", header: formHeader, body: "_revinclude=Observation:subject"}, 403, reasonSearchReach, ""},
		{"fail/include-in-entry", testNode(t, "system.batch", "Patient.search"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "Patient?_revinclude=Observation:subject"))}, 403, reasonSearchReach, ""},
		{"fail/no-node", nil, req{method: "GET", target: "/fhir/Patient"}, 403, reasonNoNode, ""},
		{"fail/absolute-form", all, req{method: "GET", target: "https://localhost/fhir/Patient"}, 400, reasonPathNotOrigin, ""},
		{"fail/asterisk", all, req{method: "OPTIONS", target: "*"}, 400, reasonPathNotOrigin, ""},
		{"fail/jsessionid", all, req{method: "GET", target: "/home;jsessionid=x"}, 400, "path_semicolon", ""},
		{"fail/dotdot-semicolon", all, req{method: "GET", target: "/fhir/..;/home"}, 400, "path_semicolon", ""},
		{"fail/encoded-dots", all, req{method: "GET", target: "/fhir/%2e%2e/actuator/env"}, 400, "path_encoded_dot", ""},
		{"fail/overlong", all, req{method: "GET", target: "/fhir/%c0%ae%c0%ae/home"}, 400, "path_overlong_utf8", ""},
		{"fail/trailing-slash", all, req{method: "GET", target: "/fhir/Patient/"}, 400, "path_trailing_slash", ""},
		{"fail/tester-home", all, req{method: "GET", target: "/home"}, 403, reasonTesterUI, ""},
		{"fail/tester-root", all, req{method: "GET", target: "/"}, 403, reasonTesterUI, ""},
		{"fail/tester-case", all, req{method: "GET", target: "/HOME"}, 403, reasonTesterUI, ""},
		{"fail/tester-static", all, req{method: "GET", target: "/js/app.js"}, 403, reasonTesterUI, ""},
		{"fail/actuator", all, req{method: "GET", target: "/actuator/env"}, 403, reasonHAPINonFHIR, ""},
		{"fail/swagger-under-base", all, req{method: "GET", target: "/fhir/swagger-ui/index.html"}, 403, reasonHAPINonFHIR, ""},
		{"fail/api-docs", all, req{method: "GET", target: "/hapi/fhir/api-docs"}, 403, reasonHAPINonFHIR, ""},
		{"fail/expunge-even-if-scoped", all, req{method: "POST", target: "/fhir/Patient/$expunge"}, 403, reasonDangerousOp, ""},
		{"fail/expunge-system-scoped", all, req{method: "POST", target: "/fhir/$expunge"}, 403, reasonDangerousOp, ""},
		{"fail/expunge-case", all, req{method: "POST", target: "/fhir/$EXPUNGE"}, 403, reasonDangerousOp, ""},
		{"fail/expunge-encoded", all, req{method: "POST", target: "/fhir/%24expunge"}, 403, reasonDangerousOp, ""},
		{"fail/partition", all, req{method: "POST", target: "/fhir/$partition-management-create-partition"}, 403, reasonDangerousOp, ""},
		{"fail/mdm", all, req{method: "POST", target: "/fhir/$mdm-clear"}, 403, reasonDangerousOp, ""},
		{"fail/export", all, req{method: "GET", target: "/fhir/Patient/$export"}, 403, reasonBulkData, ""},
		{"fail/conditional-delete", all, req{method: "DELETE", target: "/fhir/Patient?identifier=x"}, 403, reasonConditionalDel, ""},
		{"fail/delete-all", all, req{method: "DELETE", target: "/fhir/Patient"}, 403, reasonConditionalDel, ""},
		{"fail/cascade-delete", all, req{method: "DELETE", target: "/fhir/Patient/p-1?_cascade=delete"}, 403, reasonConditionalDel, ""},
		{"fail/opencr-match", all, req{method: "GET", target: "/match/config"}, 403, reasonOpenCRAdmin, ""},
		{"fail/opencr-case", all, req{method: "POST", target: "/UpdateConfig"}, 403, reasonOpenCRAdmin, ""},
		{"fail/opencr-ocrux", all, req{method: "POST", target: "/ocrux/user/authenticate"}, 403, reasonOpenCRAdmin, ""},
		{"fail/es-cluster", all, req{method: "GET", target: "/_cluster/health"}, 403, reasonESAPI, ""},
		{"fail/es-index-search", all, req{method: "GET", target: "/patients/_search"}, 403, reasonESAPI, ""},
		{"fail/es-index-delete", all, req{method: "DELETE", target: "/patients"}, 403, reasonESAPI, ""},
		{"fail/es-all", all, req{method: "DELETE", target: "/_all"}, 403, reasonESAPI, ""},
		{"fail/es-star", all, req{method: "DELETE", target: "/*"}, 400, "path_disallowed_character", ""},
		{"fail/script-param", all, req{method: "GET", target: "/fhir/Patient?script_fields=x"}, 403, reasonESScript, ""},
		{"fail/script-param-spaced", all, req{method: "GET", target: "/fhir/Patient?+script_fields=x"}, 403, reasonESScript, ""},
		{"fail/not-fhir", all, req{method: "GET", target: "/somewhere"}, 403, reasonNotFHIR, ""},
		{"fail/options", all, req{method: "OPTIONS", target: "/fhir/metadata"}, 403, reasonNotFHIR, ""},
		{"fail/base-case", all, req{method: "GET", target: "/FHIR/Patient"}, 403, reasonNotFHIR, ""},
		{"fail/scope-read", searchOnly, req{method: "GET", target: "/fhir/Patient/p-1"}, 403, reasonScope, ""},
		{"fail/scope-pix", searchOnly, req{method: "GET", target: "/fhir/Patient/$ihe-pix"}, 403, reasonScope, ""},
		{"fail/scope-compartment", searchOnly, req{method: "GET", target: "/fhir/Patient/p-1/Observation"}, 403, reasonScope, ""},
		{"fail/scope-if-none-exist", testNode(t, "Patient.create"), req{method: "POST", target: "/fhir/Patient", header: http.Header{"Content-Type": {"application/fhir+json"}, "If-None-Exist": {"identifier=a|b"}}, body: "{}"}, 403, reasonScope, ""},
		{"fail/scope-conditional-update", testNode(t, "Patient.update"), req{method: "PUT", target: "/fhir/Patient?identifier=a|b", header: fhirJSONHeader, body: "{}"}, 403, reasonScope, ""},
		{"fail/scope-batch", searchOnly, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "Patient?x=y"))}, 403, reasonScope, ""},
		{"fail/override-header", all, req{method: "GET", target: "/fhir/Patient", header: http.Header{"X-Http-Method-Override": {"DELETE"}}}, 400, reasonMethodOverride, ""},
		{"fail/override-header-underscore", all, req{method: "GET", target: "/fhir/Patient", header: http.Header{"X_http_method": {"DELETE"}}}, 400, reasonMethodOverride, ""},
		{"fail/cascade-header", all, req{method: "DELETE", target: "/fhir/Patient/p-1", header: http.Header{"X-Cascade": {"delete"}}}, 403, reasonConditionalDel, ""},
		{"fail/cascade-header-underscore", all, req{method: "DELETE", target: "/fhir/Patient/p-1", header: http.Header{"X_cascade": {"DELETE"}}}, 403, reasonConditionalDel, ""},
		{"fail/cascade-header-on-transaction", all, req{method: "POST", target: "/fhir", header: http.Header{"Content-Type": {"application/fhir+json"}, "X-Cascade": {"delete"}}, body: bundleOf("transaction", entry("DELETE", "Patient/p-1"))}, 403, reasonConditionalDel, ""},
		{"fail/override-method-override", all, req{method: "GET", target: "/fhir/Patient", header: http.Header{"X-Method-Override": {"DELETE"}}}, 400, reasonMethodOverride, ""},
		{"fail/override-param", all, req{method: "GET", target: "/fhir/Patient?_method=DELETE"}, 400, reasonMethodOverride, ""},
		{"fail/override-param-encoded", all, req{method: "GET", target: "/fhir/Patient?x=1&%5Fmethod=DELETE"}, 400, reasonMethodOverride, ""},
		{"fail/override-param-semicolon", all, req{method: "GET", target: "/fhir/Patient?x=1;_METHOD=DELETE"}, 400, reasonMethodOverride, ""},
		{"fail/override-in-form", all, req{method: "POST", target: "/fhir/Patient/_search", header: formHeader, body: "family=x&_method=DELETE"}, 400, reasonMethodOverride, ""},
		{"fail/bad-query-escape", all, req{method: "GET", target: "/fhir/Patient?%zz=1"}, 400, reasonBadQuery, ""},
		{"fail/search-json-body", all, req{method: "POST", target: "/fhir/Patient/_search", header: fhirJSONHeader, body: "{}"}, 415, reasonContentType, ""},
		{"fail/form-create", all, req{method: "POST", target: "/fhir/Patient", header: formHeader, body: "family=x"}, 415, reasonContentType, ""},
		{"fail/bundle-xml", all, req{method: "POST", target: "/fhir", header: http.Header{"Content-Type": {"application/fhir+xml"}}, body: "<Bundle/>"}, 415, reasonContentType, ""},
		{"fail/bundle-no-type", all, req{method: "POST", target: "/fhir", body: bundleOf("batch")}, 415, reasonContentType, ""},
		{"fail/bundle-utf16", all, req{method: "POST", target: "/fhir", header: http.Header{"Content-Type": {"application/fhir+json; charset=utf-16"}}, body: bundleOf("batch")}, 415, reasonContentType, ""},
		{"fail/bundle-gzip", all, req{method: "POST", target: "/fhir", header: http.Header{"Content-Type": {"application/fhir+json"}, "Content-Encoding": {"gzip"}}, body: bundleOf("batch")}, 415, reasonContentEncoding, ""},
		{"fail/bundle-too-large", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", strings.Repeat(entry("GET", "Patient/p-1")+",", 200)+entry("GET", "Patient/p-1"))}, 413, reasonTooLarge, ""},
		{"fail/bundle-query", all, req{method: "POST", target: "/fhir?_format=xml", header: fhirJSONHeader, body: bundleOf("batch")}, 400, reasonBundleQuery, ""},
		{"fail/bundle-not-json", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: "{"}, 400, reasonInvalidBundle, ""},
		{"fail/bundle-document", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("document")}, 400, reasonInvalidBundle, ""},
		{"fail/bundle-trailing-data", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch") + "{}"}, 400, reasonInvalidBundle, ""},
		{"fail/bundle-duplicate-url", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", `{"request":{"method":"POST","url":"Patient/$expunge","url":"Patient/_search"}}`)}, 400, reasonInvalidBundle, ""},
		{"fail/bundle-case-duplicate-url", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", `{"request":{"method":"POST","url":"Patient/$expunge","URL":"Patient/_search"}}`)}, 400, reasonInvalidBundle, ""},
		{"fail/bundle-case-only-url", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", `{"request":{"method":"GET","Url":"Patient/p-1"}}`)}, 400, reasonInvalidBundle, ""},
		{"fail/bundle-escaped-key-duplicate", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", `{"request":{"method":"POST","url":"Patient/$expunge","\u0075rl":"Patient/_search"}}`)}, 400, reasonInvalidBundle, ""},
		{"fail/bundle-duplicate-type", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: `{"resourceType":"Bundle","type":"batch","type":"transaction"}`}, 400, reasonInvalidBundle, ""},
		{"fail/entry-expunge", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "Patient/p-1"), entry("POST", "Patient/$expunge"))}, 403, reasonDangerousOp, ""},
		{"fail/entry-expunge-encoded", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("POST", "Patient/%24expunge"))}, 403, reasonDangerousOp, ""},
		{"fail/entry-conditional-delete", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", entry("DELETE", "Patient?identifier=x"))}, 403, reasonConditionalDel, ""},
		{"fail/entry-absolute", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "http://other/fhir/Patient/1"))}, 400, "path_disallowed_character", ""},
		{"fail/entry-leading-slash", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "/actuator/env"))}, 400, "path_empty_segment", ""},
		{"fail/entry-dotdot", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "../actuator/env"))}, 400, "path_dot_segment", ""},
		{"fail/entry-semicolon", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "..;/home"))}, 400, "path_semicolon", ""},
		{"fail/entry-not-fhir", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "swagger-ui"))}, 403, reasonNotFHIR, ""},
		{"fail/entry-nested-batch", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("POST", ""))}, 400, reasonEntryURLRequired, ""},
		{"fail/entry-nested-bundle-resource-lower-case", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", `{"resource":{"resourceType":"bundle","type":"transaction"},"request":{"method":"PUT","url":"Patient/p-1"}}`)}, 403, reasonNestedBundle, ""},
		// HAPI runs a create or update entry as its resource's type.
		{"fail/entry-post-type-confusion", testNode(t, "system.transaction", "Patient.create"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"resource":{"resourceType":"Subscription","channel":{"type":"rest-hook","endpoint":"http://127.0.0.1:9200/"}},"request":{"method":"POST","url":"Patient"}}`)}, 400, reasonInvalidBundle, ""},
		{"fail/entry-put-type-confusion", testNode(t, "system.batch", "Patient.update"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", `{"resource":{"resourceType":"Observation","id":"p-1"},"request":{"method":"PUT","url":"Patient/p-1"}}`)}, 400, reasonInvalidBundle, ""},
		{"fail/entry-conditional-put-type-confusion", testNode(t, "system.transaction", "Patient.update", "Patient.create"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"resource":{"resourceType":"SearchParameter"},"request":{"method":"PUT","url":"Patient?identifier=a|b"}}`)}, 400, reasonInvalidBundle, ""},
		{"ok/entry-post-type-lower-case-agrees", testNode(t, "system.transaction", "Patient.create"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"resource":{"resourceType":"patient"},"request":{"method":"POST","url":"Patient"}}`)}, 0, "", "/fhir"},
		// A PATCH entry's JSON or XML Patch comes base64-encoded in a Binary.
		{"fail/entry-patch-binary-match-url", testNode(t, "system.transaction", "Patient.patch"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9tYW5hZ2luZ09yZ2FuaXphdGlvbi9yZWZlcmVuY2UiLCJ2YWx1ZSI6Ik9yZ2FuaXphdGlvbj9uYW1lPUFjbWUifV0="},"request":{"method":"PATCH","url":"Patient/p-1"}}`)}, 403, reasonSearchReach, ""},
		{"fail/entry-patch-binary-xml-match-url", testNode(t, "system.transaction", "Patient.patch"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"resource":{"resourceType":"Binary","contentType":"application/xml-patch+xml","data":"PGRpZmY+PHJlcGxhY2Ugc2VsPSIvUGF0aWVudC9tYW5hZ2luZ09yZ2FuaXphdGlvbi9yZWZlcmVuY2UvQHZhbHVlIj5Pcmdhbml6YXRpb24/bmFtZT1BY21lPC9yZXBsYWNlPjwvZGlmZj4="},"request":{"method":"PATCH","url":"Patient/p-1"}}`)}, 403, reasonSearchReach, ""},
		{"ok/entry-patch-binary", testNode(t, "system.transaction", "Patient.patch"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9hY3RpdmUiLCJ2YWx1ZSI6dHJ1ZX1d"},"request":{"method":"PATCH","url":"Patient/p-1"}}`)}, 0, "", "/fhir"},
		{"fail/entry-patch-binary-not-base64", testNode(t, "system.transaction", "Patient.patch"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"W3sib3Ai-_"},"request":{"method":"PATCH","url":"Patient/p-1"}}`)}, 400, reasonInvalidBundle, ""},
		{"fail/entry-patch-parameters-match-url", testNode(t, "system.transaction", "Patient.patch"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"resource":{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.managingOrganization"},{"name":"value","valueReference":{"reference":"Organization?name=Acme"}}]}]},"request":{"method":"PATCH","url":"Patient/p-1"}}`)}, 403, reasonSearchReach, ""},
		{"fail/entry-nested-bundle-resource", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", `{"resource":{"resourceType":"Bundle"},"request":{"method":"POST","url":"Bundle"}}`)}, 403, reasonNestedBundle, ""},
		{"fail/entry-method-override", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "Patient?_method=DELETE"))}, 400, reasonMethodOverride, ""},
		{"fail/entry-lowercase-method", all, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("get", "Patient"))}, 400, reasonInvalidBundle, ""},
		{"fail/entry-scope", searchOnly, req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("batch", entry("GET", "Patient/p-1"))}, 403, reasonScope, ""},
		{"fail/entry-if-none-exist-scope", testNode(t, "system.transaction", "Patient.create"), req{method: "POST", target: "/fhir", header: fhirJSONHeader, body: bundleOf("transaction", `{"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=a|b"}}`)}, 403, reasonScope, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, upBody, err := serve(t, g, tt.node, tt.rq)
			if tt.reason == "" {
				if err != nil || up == nil {
					t.Fatalf("refused: %v", err)
				}
				if up.URL.Path != tt.path || up.URL.RawPath != "" || !strings.HasPrefix(up.RequestURI, tt.path) {
					t.Errorf("upstream path %q raw %q uri %q, want %q", up.URL.Path, up.URL.RawPath, up.RequestURI, tt.path)
				}
				if upBody != tt.rq.body {
					t.Errorf("upstream body %q, want %q", upBody, tt.rq.body)
				}
				in, ok := gate.InteractionFrom(up)
				if !ok || !in.Valid || in.Code == fhirreq.CodeBatchOrTransaction {
					t.Errorf("published interaction %+v", in)
				}
				return
			}
			if up != nil {
				t.Fatalf("forwarded %s, want refusal %s", up.URL.Path, tt.reason)
			}
			status, reason := refusalOf(err)
			if status != tt.status || reason != tt.reason {
				t.Fatalf("refusal %d %s (%v), want %d %s", status, reason, err, tt.status, tt.reason)
			}
		})
	}
}

func TestGuardWithoutProfilesIsStillDefaultDeny(t *testing.T) {
	g := newGuard(t, &Guard{})
	node := testNode(t, "Patient.search", "Patient.$expunge")
	for _, tc := range []struct{ name, method, target, reason string }{
		{"fail/tester-ui", "GET", "/home", reasonNotFHIR},
		{"fail/es", "GET", "/_cat/indices", reasonNotFHIR},
		{"fail/other-base", "GET", "/hapi/fhir/Patient", reasonNotFHIR},
		{"fail/unscoped-op", "POST", "/fhir/$reindex", reasonScope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up, _, err := serve(t, g, node, req{method: tc.method, target: tc.target})
			if _, reason := refusalOf(err); up != nil || reason != tc.reason {
				t.Fatalf("got %v (forwarded %v), want %s", err, up != nil, tc.reason)
			}
		})
	}
	// Without the hapi profile the scopes alone decide: this is why the
	// profiles exist.
	if up, _, err := serve(t, g, node, req{method: "POST", target: "/fhir/Patient/$expunge"}); up == nil {
		t.Fatalf("scoped $expunge without profile refused: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    Guard
		ok   bool
	}{
		{"ok/defaults", Guard{}, true},
		{"ok/bases", Guard{Bases: []string{"/fhir", "/hapi-fhir-jpaserver/fhir"}}, true},
		{"fail/root-base", Guard{Bases: []string{"/"}}, false},
		{"fail/trailing-slash-base", Guard{Bases: []string{"/fhir/"}}, false},
		{"fail/encoded-base", Guard{Bases: []string{"/f%68ir"}}, false},
		{"fail/relative-base", Guard{Bases: []string{"fhir"}}, false},
		{"fail/duplicate-base", Guard{Bases: []string{"/fhir", "/fhir"}}, false},
		{"fail/negative-body", Guard{MaxBodyBytes: -1}, false},
		{"fail/duplicate-profile", Guard{Profiles: []string{"hapi", "hapi"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			g := tc.g
			err := g.Provision(ctx)
			if err == nil {
				err = g.Validate()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	g := Guard{Profiles: []string{"tomcat"}}
	if err := g.Provision(ctx); err == nil || !strings.Contains(err.Error(), `profiles[0]: unknown profile "tomcat"`) {
		t.Fatalf("unknown profile: %v", err)
	}
}
