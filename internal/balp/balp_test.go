package balp

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/fhirreq"
)

// ev is a decoded event with accessors for the assertions.
type ev map[string]any

func decode(t *testing.T, b *Builder, rec *auditrec.Record) ev {
	t.Helper()
	out, err := b.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fhirUnmarshaller(t).Unmarshal(out); err != nil {
		t.Fatalf("event does not validate: %v\n%s", err, out)
	}
	var e ev
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func codeOf(v any) string {
	m, _ := v.(map[string]any)
	if cs, ok := m["coding"].([]any); ok && len(cs) > 0 {
		m, _ = cs[0].(map[string]any)
	}
	sys, _ := m["system"].(string)
	code, _ := m["code"].(string)
	return sys[strings.LastIndexAny(sys, "/:")+1:] + "#" + code
}

func (e ev) typ() string { return codeOf(e["type"]) }

func (e ev) subtypes() []string {
	var out []string
	for _, s := range asList(e["subtype"]) {
		out = append(out, codeOf(s))
	}
	return out
}

func (e ev) agents() []map[string]any { return asMaps(e["agent"]) }

func (e ev) entities() []map[string]any { return asMaps(e["entity"]) }

// agentSummary is "<type code>/<requestor>" per agent.
func (e ev) agentSummary() []string {
	var out []string
	for _, a := range e.agents() {
		r, _ := a["requestor"].(bool)
		s := codeOf(a["type"])
		if a["type"] == nil {
			s = "(no type)"
		}
		if r {
			s += "/requestor"
		}
		out = append(out, s)
	}
	return out
}

// entitySummary is "<type code>:<what>" per entity.
func (e ev) entitySummary() []string {
	var out []string
	for _, en := range e.entities() {
		s := codeOf(en["type"])
		if w, ok := en["what"].(map[string]any); ok {
			if r, ok := w["reference"].(string); ok {
				s += ":" + r
			}
			if id, ok := w["identifier"].(map[string]any); ok {
				sys, _ := id["system"].(string)
				s += ":" + sys + "|" + id["value"].(string)
			}
		}
		out = append(out, s)
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

func asMaps(v any) []map[string]any {
	var out []map[string]any
	for _, x := range asList(v) {
		m, _ := x.(map[string]any)
		out = append(out, m)
	}
	return out
}

func eq(a, b []string) bool { return strings.Join(a, " ") == strings.Join(b, " ") }

func TestRestfulMapping(t *testing.T) {
	b := newTestBuilder(t, testSource())
	tests := []struct {
		name     string
		code     string
		method   string
		in       fhirreq.Interaction
		action   string
		subtypes []string
		agents   []string
	}{
		{"ok/search-type-patient-is-iti78", "search-type", "GET", fhirreq.Interaction{ResourceType: "Patient"}, "E",
			[]string{"restful-interaction#search-type", "event-type-code#ITI-78"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/search-type-observation", "search-type", "GET", fhirreq.Interaction{ResourceType: "Observation"}, "E",
			[]string{"restful-interaction#search-type"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/search-system", "search-system", "GET", fhirreq.Interaction{}, "E",
			[]string{"restful-interaction#search-system"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/ihe-pix-is-iti83", "operation", "GET", fhirreq.Interaction{ResourceType: "Patient", Operation: "ihe-pix"}, "E",
			[]string{"restful-interaction#operation", "event-type-code#ITI-83"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/other-operation-not-iti83", "operation", "POST", fhirreq.Interaction{ResourceType: "Patient", Operation: "match"}, "E",
			[]string{"restful-interaction#operation"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/instance-ihe-pix-not-iti83", "operation", "GET", fhirreq.Interaction{ResourceType: "Patient", ID: "1", Operation: "ihe-pix"}, "E",
			[]string{"restful-interaction#operation"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/read-swaps-roles", "read", "GET", fhirreq.Interaction{ResourceType: "Patient", ID: "1"}, "R",
			[]string{"restful-interaction#read"}, []string{"DCM#110152/requestor", "DCM#110153"}},
		{"ok/vread-swaps-roles", "vread", "GET", fhirreq.Interaction{ResourceType: "Patient", ID: "1", VersionID: "2"}, "R",
			[]string{"restful-interaction#vread"}, []string{"DCM#110152/requestor", "DCM#110153"}},
		{"ok/create", "create", "POST", fhirreq.Interaction{ResourceType: "Patient"}, "C",
			[]string{"restful-interaction#create"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/update", "update", "PUT", fhirreq.Interaction{ResourceType: "Patient", ID: "1"}, "U",
			[]string{"restful-interaction#update"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/patch", "patch", "PATCH", fhirreq.Interaction{ResourceType: "Patient", ID: "1"}, "U",
			[]string{"restful-interaction#patch"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/delete", "delete", "DELETE", fhirreq.Interaction{ResourceType: "Patient", ID: "1"}, "D",
			[]string{"restful-interaction#delete"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/history-instance", "history-instance", "GET", fhirreq.Interaction{ResourceType: "Patient", ID: "1"}, "E",
			[]string{"restful-interaction#history-instance"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/history-type", "history-type", "GET", fhirreq.Interaction{ResourceType: "Patient"}, "E",
			[]string{"restful-interaction#history-type"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/history-system", "history-system", "GET", fhirreq.Interaction{}, "E",
			[]string{"restful-interaction#history-system"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/capabilities", "capabilities", "GET", fhirreq.Interaction{}, "E",
			[]string{"restful-interaction#capabilities"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/transaction", "transaction", "POST", fhirreq.Interaction{}, "E",
			[]string{"restful-interaction#transaction"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/batch", "batch", "POST", fhirreq.Interaction{}, "E",
			[]string{"restful-interaction#batch"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/compartment-search-not-iti78", "search-type", "GET", fhirreq.Interaction{ResourceType: "Patient", ID: "1", Compartment: "Observation"}, "E",
			[]string{"restful-interaction#search-type"}, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/batch-or-transaction-no-subtype", "batch-or-transaction", "POST", fhirreq.Interaction{}, "E",
			nil, []string{"DCM#110153/requestor", "DCM#110152"}},
		{"ok/unknown-code-no-subtype", "frobnicate", "GET", fhirreq.Interaction{}, "E",
			nil, []string{"DCM#110153/requestor", "DCM#110152"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := decode(t, b, served(tc.code, tc.method, "/fhir/x", tc.in))
			if e.typ() != "audit-event-type#rest" {
				t.Errorf("type %s", e.typ())
			}
			if e["action"] != tc.action {
				t.Errorf("action %v, want %s", e["action"], tc.action)
			}
			if !eq(e.subtypes(), tc.subtypes) {
				t.Errorf("subtypes %v, want %v", e.subtypes(), tc.subtypes)
			}
			if !eq(e.agentSummary(), tc.agents) {
				t.Errorf("agents %v, want %v", e.agentSummary(), tc.agents)
			}
		})
	}
}

func TestOutcomeMapping(t *testing.T) {
	b := newTestBuilder(t, testSource())
	tests := []struct {
		name    string
		status  int
		err     string
		outcome string
		desc    string // substring; "" = no outcomeDesc
	}{
		{"ok/200", 200, "", "0", ""},
		{"ok/201", 201, "", "0", ""},
		{"ok/304", 304, "", "0", ""},
		{"fail/404-minor", 404, "", "4", "HTTP 404"},
		{"fail/429-minor", 429, "", "4", "HTTP 429"},
		{"fail/500-serious", 500, "", "8", "HTTP 500"},
		{"fail/502-upstream-error", 502, "connection refused", "8", "connection refused (HTTP 502)"},
		{"fail/504-timeout", 504, "context deadline exceeded", "8", "context deadline exceeded"},
		{"fail/200-aborted-mid-body", 200, "response aborted mid-body", "8", "response aborted mid-body (HTTP 200"},
		{"fail/incomplete-major", auditrec.StatusIncomplete, "", "12", "completion never recorded"},
		{"fail/no-status-major", 0, "", "12", "completion never recorded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := served("search-type", "GET", "/fhir/Patient", fhirreq.Interaction{ResourceType: "Patient"})
			rec.Status, rec.Error = tc.status, tc.err
			e := decode(t, b, rec)
			if e["outcome"] != tc.outcome {
				t.Errorf("outcome %v, want %s", e["outcome"], tc.outcome)
			}
			desc, has := e["outcomeDesc"].(string)
			if tc.desc == "" && has {
				t.Errorf("unexpected outcomeDesc %q", desc)
			}
			if tc.desc != "" && !strings.Contains(desc, tc.desc) {
				t.Errorf("outcomeDesc %q, want it to contain %q", desc, tc.desc)
			}
		})
	}
}

func TestRefusalMapping(t *testing.T) {
	b := newTestBuilder(t, testSource())
	tests := []struct {
		name    string
		module  string
		status  int
		subtype string
		agents  []string
		outcome string
	}{
		{"fail/node-auth-is-node-authentication", "node_auth", 403, "DCM#110126", []string{"DCM#110153/requestor", "DCM#110152"}, "4"},
		{"fail/fhir-guard-is-authz-role", "fhir_guard", 403, "AuthZsubType#AuthZ-Role", []string{"DCM#110150/requestor", "extra-security-role-type#authserver"}, "4"},
		{"fail/fhir-guard-400-ambiguous-path", "fhir_guard", 400, "AuthZsubType#AuthZ-Role", []string{"DCM#110150/requestor", "extra-security-role-type#authserver"}, "4"},
		{"fail/subnet-guard-is-restricted-function", "subnet_guard", 403, "DCM#110132", []string{"DCM#110153/requestor", "DCM#110152"}, "4"},
		{"fail/unknown-module-is-restricted-function", "rate_limit", 429, "DCM#110132", []string{"DCM#110153/requestor", "DCM#110152"}, "4"},
		{"fail/refusal-with-503-is-serious", "audit", 503, "DCM#110132", []string{"DCM#110153/requestor", "DCM#110152"}, "8"},
		{"fail/refusal-without-status-still-a-failure", "node_auth", 0, "DCM#110126", []string{"DCM#110153/requestor", "DCM#110152"}, "4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := served("read", "GET", "/fhir/Patient/7", fhirreq.Interaction{ResourceType: "Patient", ID: "7"})
			rec.Upstream = ""
			rec.Status = tc.status
			rec.RefusalModule, rec.RefusalReason, rec.RefusalDetail = tc.module, "some_reason", "because"
			e := decode(t, b, rec)
			if e.typ() != "DCM#110113" {
				t.Errorf("type %s, want DCM#110113 Security Alert", e.typ())
			}
			if !eq(e.subtypes(), []string{tc.subtype}) {
				t.Errorf("subtypes %v, want %s", e.subtypes(), tc.subtype)
			}
			if e["action"] != "E" || e["outcome"] != tc.outcome {
				t.Errorf("action %v outcome %v, want E %s", e["action"], e["outcome"], tc.outcome)
			}
			if !eq(e.agentSummary(), tc.agents) {
				t.Errorf("agents %v, want %v", e.agentSummary(), tc.agents)
			}
			desc, _ := e["outcomeDesc"].(string)
			for _, want := range []string{tc.module, "some_reason", "because"} {
				if !strings.Contains(desc, want) {
					t.Errorf("outcomeDesc %q lacks %q", desc, want)
				}
			}
			// The refused request is still on record: the raw request, the
			// patient it named, its request id.
			if got := e.entitySummary(); !eq(got, []string{"audit-entity-type#2", "audit-entity-type#1:Patient/7", "BasicAuditEntityType#XrequestId:|" + testReqID}) {
				t.Errorf("entities %v", got)
			}
		})
	}
}

func TestOtherKinds(t *testing.T) {
	b := newTestBuilder(t, testSource())
	byName := map[string]*auditrec.Record{}
	for _, c := range goldenCases() {
		byName[c.name] = c.rec
	}
	tests := []struct {
		name     string
		typ      string
		subtypes []string
		action   string
		outcome  string
		agents   []string
	}{
		{"handshake-refused", "DCM#110113", []string{"DCM#110126"}, "E", "4", []string{"DCM#110153/requestor", "DCM#110152"}},
		{"handshake-no-cert", "DCM#110113", []string{"DCM#110126"}, "E", "4", []string{"DCM#110153/requestor", "DCM#110152"}},
		{"application-start", "DCM#110100", []string{"DCM#110120"}, "E", "0", []string{"DCM#110150"}},
		{"application-stop", "DCM#110100", []string{"DCM#110121"}, "E", "0", []string{"DCM#110150"}},
		{"user-login", "DCM#110114", []string{"DCM#110122"}, "E", "0", []string{"(no type)/requestor", "DCM#110150"}},
		{"user-login-failed", "DCM#110114", []string{"DCM#110122"}, "E", "4", []string{"(no type)/requestor", "DCM#110150"}},
		{"user-logout", "DCM#110114", []string{"DCM#110123"}, "E", "0", []string{"(no type)/requestor", "DCM#110150"}},
		{"user-account-change", "DCM#110113", []string{"DCM#110137"}, "U", "0", []string{"(no type)/requestor", "DCM#110150"}},
		{"user-account-locked", "DCM#110113", []string{"DCM#110137"}, "U", "0", []string{"DCM#110150/requestor"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := decode(t, b, byName[tc.name])
			if e.typ() != tc.typ || !eq(e.subtypes(), tc.subtypes) {
				t.Errorf("type %s %v, want %s %v", e.typ(), e.subtypes(), tc.typ, tc.subtypes)
			}
			if e["action"] != tc.action || e["outcome"] != tc.outcome {
				t.Errorf("action %v outcome %v, want %s %s", e["action"], e["outcome"], tc.action, tc.outcome)
			}
			if !eq(e.agentSummary(), tc.agents) {
				t.Errorf("agents %v, want %v", e.agentSummary(), tc.agents)
			}
		})
	}
}

func TestAgentIdentity(t *testing.T) {
	b := newTestBuilder(t, testSource())
	t.Run("ok/registered-node", func(t *testing.T) {
		e := decode(t, b, served("search-type", "GET", "/fhir/Patient", fhirreq.Interaction{ResourceType: "Patient"}))
		a := e.agents()[0]
		who := a["who"].(map[string]any)
		id := who["identifier"].(map[string]any)
		if id["system"] != SystemNodeID || id["value"] != "clinic-7" || who["display"] != "Clinic 7 (Kisumu)" {
			t.Errorf("who %v", who)
		}
		if a["altId"] != testFP {
			t.Errorf("altId %v, want the certificate fingerprint", a["altId"])
		}
		if n := a["network"].(map[string]any); n["address"] != "127.0.0.2" || n["type"] != "2" {
			t.Errorf("client network %v", n)
		}
		srv := e.agents()[1]
		if n := srv["network"].(map[string]any); n["address"] != "http://127.0.0.1:3000" || n["type"] != "5" {
			t.Errorf("server network %v", n)
		}
		src := e["source"].(map[string]any)
		if src["site"] != "crgate-test" || codeOf(asList(src["type"])[0]) != "security-source-type#4" {
			t.Errorf("source %v", src)
		}
		if obs := src["observer"].(map[string]any)["identifier"].(map[string]any); obs["value"] != "gw-1.example" {
			t.Errorf("observer %v", obs)
		}
	})
	t.Run("ok/presented-certificate-only", func(t *testing.T) {
		e := decode(t, b, &auditrec.Record{Kind: auditrec.KindHandshake, ID: "h1", Time: testTime,
			CertSubject: "CN=rogue", NodeFingerprint: testFP, ClientIP: "127.0.0.5"})
		a := e.agents()[0]
		who := a["who"].(map[string]any)
		if who["display"] != "CN=rogue" || who["identifier"] != nil || a["altId"] != testFP {
			t.Errorf("agent %v", a)
		}
	})
	t.Run("ok/nothing-presented", func(t *testing.T) {
		e := decode(t, b, &auditrec.Record{Kind: auditrec.KindHandshake, ID: "h2", Time: testTime, ClientIP: "127.0.0.5"})
		if who := e.agents()[0]["who"].(map[string]any); who["display"] != "unidentified client" {
			t.Errorf("who %v", who)
		}
	})
	t.Run("ok/person-is-requestor", func(t *testing.T) {
		rec := served("search-type", "GET", "/fhir/Patient", fhirreq.Interaction{ResourceType: "Patient"})
		rec.UserID, rec.UserName, rec.UserRole = "ana@example.org", "Ana", "admin"
		e := decode(t, b, rec)
		if got := e.agentSummary(); !eq(got, []string{"DCM#110153", "DCM#110152", "v3-ParticipationType#IRCP/requestor"}) {
			t.Errorf("agents %v", got)
		}
	})
	t.Run("ok/login-network-access-point", func(t *testing.T) {
		var login *auditrec.Record
		for _, c := range goldenCases() {
			if c.name == "user-login" {
				login = c.rec
			}
		}
		e := decode(t, b, login)
		p := e.agents()[0]
		if n, _ := p["network"].(map[string]any); n["address"] != "127.0.0.1" || n["type"] != "2" {
			t.Errorf("person network %v", p["network"])
		}
		if id := p["who"].(map[string]any)["identifier"].(map[string]any); id["system"] != SystemUserID || id["value"] != "ana@example.org" {
			t.Errorf("person who %v", p["who"])
		}
	})
}

func TestQueryEntity(t *testing.T) {
	b := newTestBuilder(t, Source{ObserverID: "gw", MaxQueryBytes: 64})
	query := func(e ev) (string, string) {
		en := e.entities()[0]
		raw, err := base64.StdEncoding.DecodeString(en["query"].(string))
		if err != nil {
			t.Fatal(err)
		}
		d, _ := en["description"].(string)
		return string(raw), d
	}
	t.Run("ok/get", func(t *testing.T) {
		q, d := query(decode(t, b, served("search-type", "GET", "/fhir/Patient?name=a%20b", fhirreq.Interaction{ResourceType: "Patient"})))
		if q != "GET /fhir/Patient?name=a%20b" || d != "" {
			t.Errorf("query %q description %q", q, d)
		}
	})
	t.Run("ok/post-search-body", func(t *testing.T) {
		rec := served("search-type", "POST", "/fhir/Patient/_search", fhirreq.Interaction{ResourceType: "Patient"})
		rec.SearchBody = "family=X"
		q, _ := query(decode(t, b, rec))
		if q != "POST /fhir/Patient/_search\n\nfamily=X" {
			t.Errorf("query %q", q)
		}
	})
	t.Run("ok/truncated", func(t *testing.T) {
		uri := "/fhir/Patient?name=" + strings.Repeat("x", 200)
		q, d := query(decode(t, b, served("search-type", "GET", uri, fhirreq.Interaction{ResourceType: "Patient"})))
		if len(q) != 64 || !strings.HasPrefix("GET "+uri, q) || !strings.Contains(d, "64 of 223 bytes") {
			t.Errorf("query %q (%d) description %q", q, len(q), d)
		}
	})
	t.Run("ok/non-fhir", func(t *testing.T) {
		rec := served("", "GET", "/crux/", fhirreq.Interaction{})
		rec.FHIR = fhirreq.Interaction{}
		e := decode(t, b, rec)
		if e.typ() != "audit-event-type#rest" || len(e.subtypes()) != 0 || e["action"] != "E" {
			t.Errorf("type %s subtypes %v action %v", e.typ(), e.subtypes(), e["action"])
		}
		if q, _ := query(e); q != "GET /crux/" {
			t.Errorf("query %q", q)
		}
	})
}

func TestDataEntity(t *testing.T) {
	b := newTestBuilder(t, testSource())
	tests := []struct {
		name string
		in   fhirreq.Interaction
		want []string
	}{
		{"ok/observation-read", fhirreq.Interaction{ResourceType: "Observation", ID: "o1"}, []string{"audit-entity-type#2", "audit-entity-type#2:Observation/o1", "BasicAuditEntityType#XrequestId:|" + testReqID}},
		{"ok/vread-history", fhirreq.Interaction{ResourceType: "Observation", ID: "o1", VersionID: "4"}, []string{"audit-entity-type#2", "audit-entity-type#2:Observation/o1/_history/4", "BasicAuditEntityType#XrequestId:|" + testReqID}},
		{"ok/patient-is-patient-entity", fhirreq.Interaction{ResourceType: "Patient", ID: "p1"}, []string{"audit-entity-type#2", "audit-entity-type#1:Patient/p1", "BasicAuditEntityType#XrequestId:|" + testReqID}},
		{"fail/bad-type-no-entity", fhirreq.Interaction{ResourceType: "ob$ervation", ID: "o1"}, []string{"audit-entity-type#2", "BasicAuditEntityType#XrequestId:|" + testReqID}},
		{"fail/bad-id-no-entity", fhirreq.Interaction{ResourceType: "Observation", ID: "../x"}, []string{"audit-entity-type#2", "BasicAuditEntityType#XrequestId:|" + testReqID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := decode(t, b, served("read", "GET", "/fhir/x", tc.in))
			if got := e.entitySummary(); !eq(got, tc.want) {
				t.Errorf("entities %v, want %v", got, tc.want)
			}
		})
	}
}

func TestContractViolations(t *testing.T) {
	b := newTestBuilder(t, testSource())
	good := served("read", "GET", "/fhir/Patient/1", fhirreq.Interaction{ResourceType: "Patient", ID: "1"})
	tests := []struct {
		name string
		mod  func(r *auditrec.Record)
	}{
		{"fail/no-id", func(r *auditrec.Record) { r.ID = "" }},
		{"fail/bad-id", func(r *auditrec.Record) { r.ID = "a b" }},
		{"fail/long-id", func(r *auditrec.Record) { r.ID = strings.Repeat("a", 65) }},
		{"fail/no-time", func(r *auditrec.Record) { r.Time = time.Time{} }},
		{"fail/year-10000", func(r *auditrec.Record) { r.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"fail/unknown-kind", func(r *auditrec.Record) { r.Kind = 99 }},
		{"fail/zero-kind", func(r *auditrec.Record) { r.Kind = 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := *good
			tc.mod(&r)
			if out, err := b.Marshal(&r); err == nil {
				t.Errorf("built %s", out)
			}
		})
	}
}

func TestNewBuilder(t *testing.T) {
	tests := []struct {
		name string
		src  Source
		ok   bool
	}{
		{"ok/minimal", Source{ObserverID: "gw"}, true},
		{"ok/full", testSource(), true},
		{"fail/no-observer", Source{Site: "x"}, false},
		{"fail/control-char-observer", Source{ObserverID: "gw\n1"}, false},
		{"fail/control-char-site", Source{ObserverID: "gw", Site: "a\x00"}, false},
		{"fail/negative-max-query", Source{ObserverID: "gw", MaxQueryBytes: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewBuilder(tc.src)
			if (err == nil) != tc.ok {
				t.Errorf("err %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestConcurrentMarshal: one Builder shared by many goroutines (as the
// pipeline's workers share it) builds the same bytes as a lone call; run
// with -race, it also proves the shared codings and source are only read,
// by both encoders.
func TestConcurrentMarshal(t *testing.T) {
	for _, ref := range []bool{false, true} {
		src := testSource()
		src.JSONFormat = ref
		b := newTestBuilder(t, src)
		cases := goldenCases()
		want := make([][]byte, len(cases))
		for i, c := range cases {
			out, err := b.Marshal(c.rec)
			if err != nil {
				t.Fatal(err)
			}
			want[i] = out
		}
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for n := 0; n < 20; n++ {
					i := (g + n) % len(cases)
					out, err := b.Marshal(cases[i].rec)
					if err != nil || string(out) != string(want[i]) {
						errs <- cases[i].name
						return
					}
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for name := range errs {
			t.Errorf("reference=%v: concurrent Marshal of %s differs", ref, name)
		}
	}
}

// TestOneRequestor: every event names exactly one initiator (agent with
// requestor true), whoever it is — except application start/stop, which
// no participant requested — also when a person is known on a refused
// request.
func TestOneRequestor(t *testing.T) {
	b := newTestBuilder(t, testSource())
	cases := goldenCases()
	for _, module := range []string{"node_auth", "fhir_guard", "subnet_guard"} {
		rec := served("read", "GET", "/fhir/Patient/1", fhirreq.Interaction{ResourceType: "Patient", ID: "1"})
		rec.UserID, rec.RefusalModule, rec.Status = "ana@example.org", module, 403
		cases = append(cases, goldenCase{"refused-with-person-" + module, rec})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := 0
			for _, a := range decode(t, b, c.rec).agents() {
				if r, _ := a["requestor"].(bool); r {
					n++
				}
			}
			want := 1
			if strings.HasPrefix(c.name, "application-") {
				want = 0
			}
			if n != want {
				t.Errorf("%d requestors, want %d", n, want)
			}
		})
	}
}

// TestAppendMarshal: AppendMarshal appends exactly Marshal's bytes after
// what dst holds, one event after another into one buffer, with both
// encoders; a record it rejects leaves dst as it was.
func TestAppendMarshal(t *testing.T) {
	for _, ref := range []bool{false, true} {
		src := testSource()
		src.JSONFormat = ref
		b := newTestBuilder(t, src)
		buf := []byte("prefix")
		want := "prefix"
		for _, c := range goldenCases() {
			one, err := b.Marshal(c.rec)
			if err != nil {
				t.Fatal(err)
			}
			if buf, err = b.AppendMarshal(buf, c.rec); err != nil {
				t.Fatalf("reference=%v, %s: %v", ref, c.name, err)
			}
			want += string(one)
		}
		if string(buf) != want {
			t.Errorf("reference=%v: appended events differ from Marshal's:\n got %s\nwant %s", ref, buf, want)
		}
		bad := &auditrec.Record{Kind: auditrec.KindRequest, ID: "not a valid id!"}
		out, err := b.AppendMarshal(buf, bad)
		if err == nil || string(out) != want {
			t.Errorf("reference=%v: a rejected record: err %v, buffer changed %v", ref, err, string(out) != want)
		}
	}
}
