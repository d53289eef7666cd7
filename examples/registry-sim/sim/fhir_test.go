package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestSearchFilters(t *testing.T) {
	g := newReg(t, Options{})
	pop := population(t, g)
	first := pop[0]
	fam := first.Name[0].Family
	given := first.Name[0].Given[0]

	// want lists, in id order, the patients pred accepts: an independent
	// restatement of the search semantics.
	want := func(pred func(fp fhirPatient) bool) []string {
		var ids []string
		for _, fp := range pop {
			if pred(fp) {
				ids = append(ids, fp.ID)
			}
		}
		return ids
	}
	hasIdent := func(fp fhirPatient, system, value string) bool {
		for _, id := range fp.Identifier {
			if (system == "*" || id.System == system) && (value == "" || id.Value == value) {
				return true
			}
		}
		return false
	}
	anyGiven := func(fp fhirPatient, f func(string) bool) bool { return slices.ContainsFunc(fp.Name[0].Given, f) }
	famPrefix := strings.ToLower(fam[:3])

	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"ok/_id", "_id=p-0007", []string{"p-0007"}},
		{"ok/_id-list", "_id=p-0003,p-0005,p-9999", []string{"p-0003", "p-0005"}},
		{"ok/_id-unknown", "_id=nope", nil},
		{"ok/family-prefix-any-case", "family=" + famPrefix, want(func(fp fhirPatient) bool {
			return strings.HasPrefix(foldString(fp.Name[0].Family), famPrefix)
		})},
		{"ok/family-exact", "family:exact=" + url.QueryEscape(fam), want(func(fp fhirPatient) bool { return fp.Name[0].Family == fam })},
		{"ok/family-exact-is-case-sensitive", "family:exact=" + url.QueryEscape(strings.ToUpper(fam)), nil},
		{"ok/family-contains", "family:contains=AR", want(func(fp fhirPatient) bool {
			return strings.Contains(foldString(fp.Name[0].Family), "ar")
		})},
		{"ok/given-accent-insensitive", "given=" + url.QueryEscape(asciiLower(given)), want(func(fp fhirPatient) bool {
			return anyGiven(fp, func(s string) bool {
				return foldString(s) == foldString(given) || strings.HasPrefix(foldString(s), asciiLower(given))
			})
		})},
		{"ok/name-family-or-given", "name=" + famPrefix, want(func(fp fhirPatient) bool {
			return strings.HasPrefix(foldString(fp.Name[0].Family), famPrefix) ||
				anyGiven(fp, func(s string) bool { return strings.HasPrefix(foldString(s), famPrefix) })
		})},
		{"ok/gender", "gender=female", want(func(fp fhirPatient) bool { return fp.Gender == "female" })},
		{"ok/gender-with-system", "gender=" + url.QueryEscape("http://hl7.org/fhir/administrative-gender|male"), want(func(fp fhirPatient) bool { return fp.Gender == "male" })},
		{"ok/birthdate-day", "birthdate=" + first.BirthDate, want(func(fp fhirPatient) bool { return fp.BirthDate == first.BirthDate })},
		{"ok/birthdate-eq-year", "birthdate=eq" + first.BirthDate[:4], want(func(fp fhirPatient) bool { return fp.BirthDate[:4] == first.BirthDate[:4] })},
		{"ok/identifier-system-value", "identifier=" + url.QueryEscape(SystemIHERed+"|"+RedIdentifier(5)), []string{"p-0005"}},
		{"ok/identifier-wrong-system", "identifier=" + url.QueryEscape(SystemIHEBlue+"|"+RedIdentifier(5)), nil},
		{"ok/identifier-value-only", "identifier=" + NationalID(9), []string{"p-0009"}},
		{"ok/identifier-system-only", "identifier=" + url.QueryEscape(SystemIHEBlue+"|"), want(func(fp fhirPatient) bool { return hasIdent(fp, SystemIHEBlue, "") })},
		{"ok/and-of-parameters", "gender=male&family=" + famPrefix, want(func(fp fhirPatient) bool {
			return fp.Gender == "male" && strings.HasPrefix(foldString(fp.Name[0].Family), famPrefix)
		})},
		{"ok/empty-value-ignored", "family=&_count=100", want(func(fhirPatient) bool { return true })},
		{"ok/unknown-parameter-ignored", "_format=json&_pretty=true&foo=bar&_count=100", want(func(fhirPatient) bool { return true })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.query
			if !strings.Contains(q, "_count") {
				q += "&_count=100"
			}
			w := serve(g, "GET", "/fhir/Patient?"+q, "")
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/fhir+json; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			b := decodeBundle(t, w)
			if b.Type != "searchset" || b.Total == nil || *b.Total != len(tt.want) {
				t.Errorf("type %q total %v, want searchset %d", b.Type, b.Total, len(tt.want))
			}
			if got := b.ids(t); !slices.Equal(got, tt.want) {
				t.Errorf("ids = %v\nwant  %v", got, tt.want)
			}
			for _, e := range b.Entry {
				if e.Search == nil || e.Search.Mode != "match" || !strings.HasPrefix(e.FullURL, "http://registry.test/fhir/Patient/p-") {
					t.Errorf("entry fullUrl %q search %+v", e.FullURL, e.Search)
				}
			}
			if self := b.link("self"); self != "http://registry.test/fhir/Patient?"+q {
				t.Errorf("self link = %q", self)
			}
		})
	}
	if len(tests[3].want) < 1 || len(tests[10].want) < 2 {
		t.Fatalf("synthetic data too thin for these tests: %v %v", tests[3].want, tests[10].want)
	}
}

func TestSearchFailures(t *testing.T) {
	g := newReg(t, Options{})
	for _, q := range []string{
		"_count=abc", "_count=-1", "_offset=x", "birthdate=gt2000", "birthdate=2000-13", "birthdate=01-02-2000",
		"gender:missing=true", "family:phonetic=x", "family=%zz",
	} {
		t.Run("fail/"+q, func(t *testing.T) {
			w := serve(g, "GET", "/fhir/Patient?"+q, "")
			if w.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", w.Code, w.Body.String())
			}
			_ = diagnostics(t, w)
		})
	}
}

func TestSearchCountAndPaging(t *testing.T) {
	g := newReg(t, Options{Patients: 150})
	tests := []struct {
		name      string
		query     string
		entries   int
		firstID   string
		next      string // suffix of the next link, "" for none
		wantTotal int
	}{
		{"ok/default-10", "", 10, "p-0001", "/fhir/Patient?_offset=10", 150},
		{"ok/count-5", "_count=5", 5, "p-0001", "/fhir/Patient?_count=5&_offset=5", 150},
		{"ok/count-capped-at-100", "_count=1000", 100, "p-0001", "/fhir/Patient?_count=1000&_offset=100", 150},
		{"ok/offset", "_count=10&_offset=10", 10, "p-0011", "/fhir/Patient?_count=10&_offset=20", 150},
		{"ok/last-page", "_count=100&_offset=100", 50, "p-0101", "", 150},
		{"ok/past-the-end", "_offset=500", 0, "", "", 150},
		{"ok/count-0-is-total-only", "_count=0", 0, "", "", 150},
		{"ok/summary-count", "_summary=count", 0, "", "", 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "/fhir/Patient"
			if tt.query != "" {
				target += "?" + tt.query
			}
			b := decodeBundle(t, serve(g, "GET", target, ""))
			ids := b.ids(t)
			if len(ids) != tt.entries || *b.Total != tt.wantTotal {
				t.Fatalf("%d entries total %d, want %d total %d", len(ids), *b.Total, tt.entries, tt.wantTotal)
			}
			if tt.entries > 0 && ids[0] != tt.firstID {
				t.Errorf("first id %s, want %s", ids[0], tt.firstID)
			}
			next := b.link("next")
			if tt.next == "" && next != "" || tt.next != "" && next != "http://registry.test"+tt.next {
				t.Errorf("next link = %q, want suffix %q", next, tt.next)
			}
		})
	}
}

func TestSearchPOSTForm(t *testing.T) {
	g := newReg(t, Options{})
	get := decodeBundle(t, serve(g, "GET", "/fhir/Patient?gender=female&_count=3", ""))
	w := serve(g, "POST", "/fhir/Patient/_search?_count=3", "gender=female",
		"Content-Type", "application/x-www-form-urlencoded")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	post := decodeBundle(t, w)
	if !slices.Equal(get.ids(t), post.ids(t)) || *get.Total != *post.Total {
		t.Errorf("POST _search %v (%d) != GET %v (%d)", post.ids(t), *post.Total, get.ids(t), *get.Total)
	}
}

func TestEveryBase(t *testing.T) {
	g := newReg(t, Options{})
	for _, base := range []string{"/fhir", "/hapi/fhir", "/hapi-fhir-jpaserver/fhir", "/baseR4"} {
		t.Run(base, func(t *testing.T) {
			b := decodeBundle(t, serve(g, "GET", base+"/Patient?_id=p-0002", ""))
			if len(b.Entry) != 1 || b.Entry[0].FullURL != "http://registry.test"+base+"/Patient/p-0002" {
				t.Errorf("entries %+v", b.Entry)
			}
			if w := serve(g, "GET", base+"/Patient/p-0002", ""); w.Code != http.StatusOK {
				t.Errorf("read: %d", w.Code)
			}
			if w := serve(g, "GET", base+"/metadata", ""); w.Code != http.StatusOK {
				t.Errorf("metadata: %d", w.Code)
			}
		})
	}
}

func TestResponseSizes(t *testing.T) {
	// The benchmarks rely on these sizes.
	g := newReg(t, Options{})
	if n := serve(g, "GET", "/fhir/Patient?_count=10", "").Body.Len(); n < 1<<10 || n > 15<<10 {
		t.Errorf("_count=10 search is %d bytes, want 1-15 KB", n)
	}
	if n := serve(g, "GET", "/fhir/Patient?_id=p-0001", "").Body.Len(); n < 700 || n > 2000 {
		t.Errorf("_id search is %d bytes, want about 1 KB", n)
	}
}

func TestReadVreadHistory(t *testing.T) {
	g := newReg(t, Options{})
	p := g.byID["p-0003"]
	nver := len(p.versions)
	tests := []struct {
		name     string
		method   string
		target   string
		status   int
		version  string // meta.versionId of a returned Patient
		histLen  int    // entries of a returned history Bundle
		diagPart string // in the OperationOutcome
	}{
		{"ok/read", "GET", "/fhir/Patient/p-0003", 200, fmt.Sprint(nver), 0, ""},
		{"ok/read-head", "HEAD", "/fhir/Patient/p-0003", 200, "", 0, ""},
		{"ok/vread-1", "GET", "/fhir/Patient/p-0003/_history/1", 200, "1", 0, ""},
		{"ok/vread-current", "GET", fmt.Sprintf("/fhir/Patient/p-0003/_history/%d", nver), 200, fmt.Sprint(nver), 0, ""},
		{"ok/instance-history", "GET", "/fhir/Patient/p-0003/_history", 200, "", nver, ""},
		{"ok/type-history", "GET", "/fhir/Patient/_history?_count=100", 200, "", len(g.historyOrder), ""},
		{"ok/system-history", "GET", "/fhir/_history?_count=5", 200, "", 5, ""},
		{"fail/read-unknown", "GET", "/fhir/Patient/p-9999", 404, "", 0, "Patient/p-9999 is not known"},
		{"fail/read-other-type", "GET", "/fhir/Observation/p-0001", 404, "", 0, "Observation/p-0001 is not known"},
		{"fail/vread-unknown-version", "GET", "/fhir/Patient/p-0003/_history/99", 404, "", 0, "is not valid"},
		{"fail/vread-not-a-number", "GET", "/fhir/Patient/p-0003/_history/x", 404, "", 0, "is not valid"},
		{"fail/history-unknown", "GET", "/fhir/Patient/p-9999/_history", 404, "", 0, "is not known"},
		{"fail/invalid-id", "GET", "/fhir/Patient/a_b", 400, "", 0, "Invalid resource ID"},
		{"fail/unknown-type", "GET", "/fhir/patient/p-0001", 404, "", 0, "Unknown resource type"},
		{"fail/post-instance", "POST", "/fhir/Patient/p-0003", 405, "", 0, "Method not allowed"},
		{"fail/base-get", "GET", "/fhir", 400, "", 0, "base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(g, tt.method, tt.target, "")
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body.String())
			}
			if w.Header().Get("X-Registry-Sim") != "1" {
				t.Errorf("X-Registry-Sim missing")
			}
			switch {
			case tt.diagPart != "":
				if d := diagnostics(t, w); !strings.Contains(d, tt.diagPart) {
					t.Errorf("diagnostics %q, want %q", d, tt.diagPart)
				}
			case tt.version != "":
				var fp fhirPatient
				if err := json.Unmarshal(w.Body.Bytes(), &fp); err != nil || fp.ID != "p-0003" || fp.Meta.VersionID != tt.version {
					t.Fatalf("patient %+v (%v), want p-0003 version %s", fp, err, tt.version)
				}
				if et := w.Header().Get("ETag"); et != `W/"`+tt.version+`"` {
					t.Errorf("ETag %q", et)
				}
			case tt.histLen > 0:
				b := decodeBundle(t, w)
				if b.Type != "history" || len(b.Entry) != tt.histLen {
					t.Errorf("history type %q with %d entries, want %d", b.Type, len(b.Entry), tt.histLen)
				}
			}
		})
	}
	if nver > 1 {
		v1 := serve(g, "GET", "/fhir/Patient/p-0003/_history/1", "").Body.Bytes()
		cur := serve(g, "GET", "/fhir/Patient/p-0003", "").Body.Bytes()
		if bytes.Equal(v1, cur) {
			t.Errorf("version 1 and the current version are identical")
		}
	}
}

func TestPIXm(t *testing.T) {
	g := newReg(t, Options{})
	pix := func(q string) string { return "/fhir/Patient/$ihe-pix?" + q }
	src := "sourceIdentifier=" + url.QueryEscape(SystemIHERed+"|"+RedIdentifier(4))
	blue4, _ := BlueIdentifier(4)
	tests := []struct {
		name   string
		method string
		target string
		status int
		want   []string // "system|value" of the targetIdentifiers
		diag   string
	}{
		{"ok/all-other-domains", "GET", pix(src), 200, []string{SystemNationalID + "|" + NationalID(4), SystemIHEBlue + "|" + blue4}, ""},
		{"ok/target-system", "GET", pix(src + "&targetSystem=" + url.QueryEscape(SystemNationalID)), 200, []string{SystemNationalID + "|" + NationalID(4)}, ""},
		{"ok/unescaped-pipe", "GET", pix("sourceIdentifier=" + SystemNationalID + "|" + NationalID(4) + "&targetSystem=" + SystemIHERed), 200, []string{SystemIHERed + "|" + RedIdentifier(4)}, ""},
		{"ok/hapi-base", "GET", "/hapi/fhir/Patient/$ihe-pix?" + src, 200, []string{SystemNationalID + "|" + NationalID(4), SystemIHEBlue + "|" + blue4}, ""},
		{"fail/unknown-identifier", "GET", pix("sourceIdentifier=" + url.QueryEscape(SystemIHERed+"|IHERED-0")), 404, nil, "sourceIdentifier Patient Identifier not found"},
		{"fail/unknown-domain", "GET", pix("sourceIdentifier=" + url.QueryEscape("urn:oid:9.9|x")), 400, nil, "sourceIdentifier Assigning Authority not found"},
		{"fail/unknown-target", "GET", pix(src + "&targetSystem=urn:oid:9.9"), 403, nil, "targetSystem not found"},
		{"fail/no-source", "GET", pix("targetSystem=" + SystemIHERed), 400, nil, "sourceIdentifier"},
		{"fail/no-system", "GET", pix("sourceIdentifier=" + RedIdentifier(4)), 400, nil, "sourceIdentifier"},
		{"fail/two-sources", "GET", pix(src + "&" + src), 400, nil, "sourceIdentifier"},
		{"fail/post", "POST", pix(src), 405, nil, "Method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(g, tt.method, tt.target, "")
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body.String())
			}
			if tt.diag != "" {
				if d := diagnostics(t, w); !strings.Contains(d, tt.diag) {
					t.Errorf("diagnostics %q, want %q", d, tt.diag)
				}
				return
			}
			var out struct {
				ResourceType string `json:"resourceType"`
				Parameter    []struct {
					Name            string          `json:"name"`
					ValueIdentifier *fhirIdentifier `json:"valueIdentifier"`
					ValueReference  *fhirReference  `json:"valueReference"`
				} `json:"parameter"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.ResourceType != "Parameters" {
				t.Fatalf("not Parameters (%v): %s", err, w.Body.String())
			}
			var got []string
			var targetID string
			for _, p := range out.Parameter {
				switch p.Name {
				case "targetIdentifier":
					got = append(got, p.ValueIdentifier.System+"|"+p.ValueIdentifier.Value)
				case "targetId":
					targetID = p.ValueReference.Reference
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("targetIdentifier %v, want %v", got, tt.want)
			}
			if !strings.HasSuffix(targetID, "/Patient/p-0004") {
				t.Errorf("targetId %q", targetID)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	g := newReg(t, Options{})
	pop := population(t, g)
	p1 := pop[0]
	demo, _ := json.Marshal(fhirPatient{ResourceType: "Patient", Name: p1.Name, Gender: p1.Gender, BirthDate: p1.BirthDate})
	withID, _ := json.Marshal(fhirPatient{ResourceType: "Patient", Identifier: p1.Identifier[:1]})
	params := func(res []byte, extra string) string {
		return `{"resourceType":"Parameters","parameter":[{"name":"resource","resource":` + string(res) + `}` + extra + `]}`
	}

	t.Run("ok/demographics", func(t *testing.T) {
		b := decodeBundle(t, serve(g, "POST", "/fhir/Patient/$match", params(demo, "")))
		ids := b.ids(t)
		// p-0002 is p-0001's planted duplicate.
		if len(ids) < 2 || !slices.Contains(ids, "p-0001") || !slices.Contains(ids, "p-0002") {
			t.Fatalf("candidates %v, want p-0001 and p-0002", ids)
		}
		if s := b.Entry[0].Search; s == nil || s.Score != 0.9 {
			t.Errorf("top score %+v, want 0.9", s)
		}
	})
	t.Run("ok/identifier-is-certain", func(t *testing.T) {
		b := decodeBundle(t, serve(g, "POST", "/fhir/Patient/$match", params(withID, `,{"name":"onlyCertainMatches","valueBoolean":true}`)))
		if ids := b.ids(t); !slices.Equal(ids, []string{"p-0001"}) || b.Entry[0].Search.Score != 1 {
			t.Errorf("candidates %v %+v", ids, b.Entry)
		}
	})
	t.Run("ok/count", func(t *testing.T) {
		b := decodeBundle(t, serve(g, "POST", "/fhir/Patient/$match", params(demo, `,{"name":"count","valueInteger":1}`)))
		if len(b.Entry) != 1 || *b.Total < 2 {
			t.Errorf("%d entries total %d", len(b.Entry), *b.Total)
		}
	})
	for name, body := range map[string]string{
		"fail/not-json":     "nope",
		"fail/no-resource":  `{"resourceType":"Parameters","parameter":[]}`,
		"fail/not-patient":  params([]byte(`{"resourceType":"Observation"}`), ""),
		"fail/wrong-params": `{"resourceType":"Bundle"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if w := serve(g, "POST", "/fhir/Patient/$match", body); w.Code != http.StatusBadRequest {
				t.Errorf("status %d: %s", w.Code, w.Body.String())
			}
		})
	}
	if w := serve(g, "GET", "/fhir/Patient/$match", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET $match: %d", w.Code)
	}
}

func TestBatchAndTransaction(t *testing.T) {
	g := newReg(t, Options{})
	batch := `{"resourceType":"Bundle","type":"batch","entry":[
		{"request":{"method":"GET","url":"Patient/p-0001"}},
		{"request":{"method":"GET","url":"Patient/nope"}},
		{"resource":{"resourceType":"Patient","name":[{"family":"New"}]},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Patient","id":"p-0002"},"request":{"method":"PUT","url":"Patient/p-0002"}},
		{"request":{"method":"DELETE","url":"Patient/p-0003"}},
		{"request":{"method":"POST","url":"Patient/$expunge"}},
		{"request":{"method":"GET","url":"Patient?identifier=` + NationalID(7) + `"}},
		{"request":{"method":"POST","url":"/fhir"}},
		{"request":{"method":"GET","url":"http://elsewhere/fhir/Patient/p-0004"}},
		{"resource":{"resourceType":"Patient"}}
	]}`
	w := serve(g, "POST", "/fhir", batch, "Content-Type", "application/fhir+json")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	b := decodeBundle(t, w)
	wantStatus := []string{"200 OK", "404 Not Found", "201 Created", "200 OK", "200 OK", "200 OK", "200 OK", "400 Bad Request", "200 OK", "400 Bad Request"}
	if b.Type != "batch-response" || len(b.Entry) != len(wantStatus) {
		t.Fatalf("type %q with %d entries, want batch-response with %d", b.Type, len(b.Entry), len(wantStatus))
	}
	for i, e := range b.Entry {
		if e.Response == nil || e.Response.Status != wantStatus[i] {
			t.Errorf("entry %d response %+v, want %s", i, e.Response, wantStatus[i])
		}
	}
	if loc := b.Entry[2].Response.Location; !strings.HasPrefix(loc, "Patient/") || !strings.HasSuffix(loc, "/_history/1") {
		t.Errorf("create location %q", loc)
	}
	if !bytes.Contains(b.Entry[5].Response.Outcome, []byte("simulated $expunge executed")) {
		t.Errorf("$expunge entry outcome %s", b.Entry[5].Response.Outcome)
	}
	if !bytes.Contains(b.Entry[0].Resource, []byte(`"id":"p-0001"`)) || !bytes.Contains(b.Entry[6].Resource, []byte(`"total":1`)) {
		t.Errorf("GET entries carry no resource: %s / %s", b.Entry[0].Resource, b.Entry[6].Resource)
	}

	const txOK = `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
		{"request":{"method":"GET","url":"Patient/p-0001"}}]}`
	b = decodeBundle(t, serve(g, "POST", "/hapi/fhir", txOK))
	if b.Type != "transaction-response" || len(b.Entry) != 2 {
		t.Errorf("transaction: type %q, %d entries", b.Type, len(b.Entry))
	}
	const txFail = `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
		{"request":{"method":"GET","url":"Patient/nope"}}]}`
	if w := serve(g, "POST", "/fhir", txFail); w.Code != http.StatusNotFound || !strings.Contains(diagnostics(t, w), "entry 1") {
		t.Errorf("failing transaction: %d %s", w.Code, w.Body.String())
	}
	for name, body := range map[string]string{
		"fail/not-json":     "{",
		"fail/not-a-bundle": `{"resourceType":"Patient"}`,
		"fail/searchset":    `{"resourceType":"Bundle","type":"searchset"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if w := serve(g, "POST", "/fhir", body); w.Code != http.StatusBadRequest {
				t.Errorf("status %d: %s", w.Code, w.Body.String())
			}
		})
	}
}

func TestWrites(t *testing.T) {
	g := newReg(t, Options{})
	nver := len(g.byID["p-0001"].versions)
	tests := []struct {
		name    string
		method  string
		target  string
		body    string
		status  int
		version string
	}{
		{"ok/create", "POST", "/fhir/Patient", `{"resourceType":"Patient","name":[{"family":"New"}]}`, 201, "1"},
		{"ok/create-other-type", "POST", "/fhir/Observation", `{"resourceType":"Observation","status":"final"}`, 201, "1"},
		{"ok/update-known", "PUT", "/fhir/Patient/p-0001", `{"resourceType":"Patient","id":"p-0001"}`, 200, fmt.Sprint(nver + 1)},
		{"ok/update-creates", "PUT", "/fhir/Patient/new-1", `{"resourceType":"Patient"}`, 201, "1"},
		{"ok/conditional-update", "PUT", "/fhir/Patient?identifier=x", `{"resourceType":"Patient"}`, 201, "1"},
		{"ok/patch", "PATCH", "/fhir/Patient/p-0001", `[{"op":"replace","path":"/active","value":false}]`, 200, fmt.Sprint(nver)},
		{"ok/delete", "DELETE", "/fhir/Patient/p-0001", "", 200, ""},
		{"ok/conditional-delete", "DELETE", "/fhir/Patient?identifier=x", "", 200, ""},
		{"fail/create-wrong-type", "POST", "/fhir/Patient", `{"resourceType":"Observation"}`, 400, ""},
		{"fail/create-no-body", "POST", "/fhir/Patient", "", 400, ""},
		{"fail/create-not-json", "POST", "/fhir/Patient", `<Patient/>`, 400, ""},
		{"fail/update-id-mismatch", "PUT", "/fhir/Patient/p-0001", `{"resourceType":"Patient","id":"p-0002"}`, 400, ""},
		{"fail/update-no-id", "PUT", "/fhir/Patient", `{"resourceType":"Patient"}`, 400, ""},
		{"fail/patch-unknown", "PATCH", "/fhir/Patient/p-9999", `[]`, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(g, tt.method, tt.target, tt.body, "Content-Type", "application/fhir+json")
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body.String())
			}
			if tt.version == "" {
				return
			}
			var res struct {
				ResourceType string   `json:"resourceType"`
				ID           string   `json:"id"`
				Meta         fhirMeta `json:"meta"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.ID == "" || res.Meta.VersionID != tt.version {
				t.Errorf("resource %+v (%v), want version %s", res, err, tt.version)
			}
			if tt.status == 201 {
				want := "http://registry.test/fhir/" + res.ResourceType + "/" + res.ID + "/_history/1"
				if loc := w.Header().Get("Location"); loc != want {
					t.Errorf("Location %q, want %q", loc, want)
				}
			}
		})
	}
}

// TestDangerousOperations: each one, at each level, must say plainly that
// it ran, so an end-to-end test sees it if the gateway let it through.
func TestDangerousOperations(t *testing.T) {
	g := newReg(t, Options{})
	ops := []string{
		"$expunge", "$delete-expunge", "$reindex", "$reindex-terminology",
		"$mark-all-resources-for-reindexing", "$perform-reindexing-pass", "$invalidate-expansion",
		"$partition-management-create-partition", "$partition-management-delete-partition",
		"$mdm-clear", "$mdm-submit", "$diff", "$meta-delete", "$export", "$import",
	}
	levels := map[string]string{
		"system":   "/fhir/%s",
		"type":     "/hapi/fhir/Patient/%s",
		"instance": "/baseR4/Patient/p-0001/%s",
		"version":  "/fhir/Patient/p-0001/_history/1/%s",
	}
	for _, op := range ops {
		for level, pattern := range levels {
			for _, method := range []string{"POST", "GET"} {
				t.Run(op+"/"+level+"/"+method, func(t *testing.T) {
					w := serve(g, method, fmt.Sprintf(pattern, op), "")
					if w.Code != http.StatusOK {
						t.Fatalf("status %d: %s", w.Code, w.Body.String())
					}
					if d := diagnostics(t, w); !strings.Contains(d, "simulated "+op+" executed") {
						t.Errorf("diagnostics %q", d)
					}
				})
			}
		}
	}
	// %24 is "$": the container decodes it.
	if d := diagnostics(t, serve(g, "POST", "/fhir/Patient/%24expunge", "")); !strings.Contains(d, "simulated $expunge executed") {
		t.Errorf("%%24expunge: %q", d)
	}
}

func TestOtherResourceTypes(t *testing.T) {
	g := newReg(t, Options{})
	b := decodeBundle(t, serve(g, "GET", "/fhir/AuditEvent?date=ge2024", ""))
	if *b.Total != 0 || len(b.Entry) != 0 || b.link("self") != "http://registry.test/fhir/AuditEvent?date=ge2024" {
		t.Errorf("AuditEvent search: %+v", b)
	}
	if w := serve(g, "GET", "/fhir/Observation/1", ""); w.Code != http.StatusNotFound {
		t.Errorf("Observation read: %d", w.Code)
	}
	if w := serve(g, "GET", "/fhir/foo", ""); w.Code != http.StatusNotFound {
		t.Errorf("lower-case type: %d", w.Code)
	}
	if w := serve(g, "GET", "/fhir/Observation/_history", ""); w.Code != http.StatusOK || *decodeBundle(t, w).Total != 0 {
		t.Errorf("Observation history: %d", w.Code)
	}
}

func TestMetadata(t *testing.T) {
	g := newReg(t, Options{})
	w := serve(g, "GET", "/fhir/metadata", "")
	var cs struct {
		ResourceType string `json:"resourceType"`
		FHIRVersion  string `json:"fhirVersion"`
		Kind         string `json:"kind"`
		Rest         []struct {
			Resource []struct {
				Type string `json:"type"`
			} `json:"resource"`
		} `json:"rest"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &cs); err != nil || cs.ResourceType != "CapabilityStatement" ||
		cs.FHIRVersion != "4.0.1" || cs.Kind != "instance" || cs.Rest[0].Resource[0].Type != "Patient" {
		t.Errorf("CapabilityStatement %+v (%v)", cs, err)
	}
	if w.Header().Get("Content-Type") != "application/fhir+json; charset=utf-8" {
		t.Errorf("Content-Type %q", w.Header().Get("Content-Type"))
	}
	if w := serve(g, "DELETE", "/fhir/metadata", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE metadata: %d", w.Code)
	}
}

func TestPopulationIsDeterministic(t *testing.T) {
	a := newReg(t, Options{Patients: 12})
	b := newReg(t, Options{Patients: 40})
	for i, p := range a.patients {
		if !bytes.Equal(p.current().json, b.patients[i].current().json) {
			t.Fatalf("patient %s differs between populations of 12 and 40", p.id)
		}
	}
	seen := map[string]bool{}
	for _, p := range b.patients {
		if len(p.versions) < 1 || len(p.versions) > 3 || len(p.identifier) < 2 || len(p.identifier) > 3 {
			t.Errorf("%s: %d versions, %d identifiers", p.id, len(p.versions), len(p.identifier))
		}
		for _, id := range p.identifier {
			k := id.System + "|" + id.Value
			if seen[k] {
				t.Errorf("identifier %s used twice", k)
			}
			seen[k] = true
		}
	}
}
