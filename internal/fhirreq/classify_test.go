package fhirreq

import (
	"net/http"
	"strings"
	"testing"
)

var testBases = []string{"/fhir", "/hapi/fhir", "/hapi-fhir-jpaserver/fhir", "/baseR4"}

func TestClassify(t *testing.T) {
	tests := []struct {
		name, method, path string
		want               Interaction
	}{
		{"ok/read", "GET", "/fhir/Patient/p-1", Interaction{Valid: true, Code: CodeRead, Base: "/fhir", ResourceType: "Patient", ID: "p-1"}},
		{"ok/read-head", "HEAD", "/fhir/Patient/p-1", Interaction{Valid: true, Code: CodeRead, Base: "/fhir", ResourceType: "Patient", ID: "p-1"}},
		{"ok/vread", "GET", "/fhir/Patient/p-1/_history/3", Interaction{Valid: true, Code: CodeVRead, Base: "/fhir", ResourceType: "Patient", ID: "p-1", VersionID: "3"}},
		{"ok/update", "PUT", "/fhir/Patient/p-1", Interaction{Valid: true, Code: CodeUpdate, Base: "/fhir", ResourceType: "Patient", ID: "p-1"}},
		{"ok/patch", "PATCH", "/fhir/Patient/p-1", Interaction{Valid: true, Code: CodePatch, Base: "/fhir", ResourceType: "Patient", ID: "p-1"}},
		{"ok/delete", "DELETE", "/fhir/Patient/p-1", Interaction{Valid: true, Code: CodeDelete, Base: "/fhir", ResourceType: "Patient", ID: "p-1"}},
		{"ok/conditional-update", "PUT", "/fhir/Patient", Interaction{Valid: true, Code: CodeUpdate, Base: "/fhir", ResourceType: "Patient", Conditional: true}},
		{"ok/conditional-patch", "PATCH", "/fhir/Patient", Interaction{Valid: true, Code: CodePatch, Base: "/fhir", ResourceType: "Patient", Conditional: true}},
		{"ok/conditional-delete", "DELETE", "/fhir/Patient", Interaction{Valid: true, Code: CodeDelete, Base: "/fhir", ResourceType: "Patient", Conditional: true}},
		{"ok/history-instance", "GET", "/fhir/Patient/p-1/_history", Interaction{Valid: true, Code: CodeHistoryInstance, Base: "/fhir", ResourceType: "Patient", ID: "p-1"}},
		{"ok/history-type", "GET", "/fhir/Patient/_history", Interaction{Valid: true, Code: CodeHistoryType, Base: "/fhir", ResourceType: "Patient"}},
		{"ok/history-system", "GET", "/fhir/_history", Interaction{Valid: true, Code: CodeHistorySystem, Base: "/fhir"}},
		{"ok/create", "POST", "/fhir/Patient", Interaction{Valid: true, Code: CodeCreate, Base: "/fhir", ResourceType: "Patient"}},
		{"ok/search-type", "GET", "/fhir/Patient", Interaction{Valid: true, Code: CodeSearchType, Base: "/fhir", ResourceType: "Patient"}},
		{"ok/search-type-post", "POST", "/fhir/Patient/_search", Interaction{Valid: true, Code: CodeSearchType, Base: "/fhir", ResourceType: "Patient"}},
		{"ok/search-type-get-search", "GET", "/fhir/Patient/_search", Interaction{Valid: true, Code: CodeSearchType, Base: "/fhir", ResourceType: "Patient"}},
		{"ok/search-system", "GET", "/fhir", Interaction{Valid: true, Code: CodeSearchSystem, Base: "/fhir"}},
		{"ok/search-system-post", "POST", "/fhir/_search", Interaction{Valid: true, Code: CodeSearchSystem, Base: "/fhir"}},
		{"ok/compartment", "GET", "/fhir/Patient/p-1/Observation", Interaction{Valid: true, Code: CodeSearchCompartment, Base: "/fhir", ResourceType: "Patient", ID: "p-1", Compartment: "Observation"}},
		{"ok/capabilities", "GET", "/fhir/metadata", Interaction{Valid: true, Code: CodeCapabilities, Base: "/fhir"}},
		{"ok/operation-system", "POST", "/fhir/$expunge", Interaction{Valid: true, Code: CodeOperation, Base: "/fhir", Operation: "expunge"}},
		{"ok/operation-type", "GET", "/fhir/Patient/$ihe-pix", Interaction{Valid: true, Code: CodeOperation, Base: "/fhir", ResourceType: "Patient", Operation: "ihe-pix"}},
		{"ok/operation-instance", "POST", "/fhir/Patient/p-1/$everything", Interaction{Valid: true, Code: CodeOperation, Base: "/fhir", ResourceType: "Patient", ID: "p-1", Operation: "everything"}},
		{"ok/batch-or-transaction", "POST", "/fhir", Interaction{Valid: true, Code: CodeBatchOrTransaction, Base: "/fhir"}},
		{"ok/longest-base", "GET", "/hapi/fhir/Patient", Interaction{Valid: true, Code: CodeSearchType, Base: "/hapi/fhir", ResourceType: "Patient"}},
		{"ok/base-r4", "GET", "/baseR4/metadata", Interaction{Valid: true, Code: CodeCapabilities, Base: "/baseR4"}},
		{"ok/jpaserver-base", "GET", "/hapi-fhir-jpaserver/fhir/Patient/1", Interaction{Valid: true, Code: CodeRead, Base: "/hapi-fhir-jpaserver/fhir", ResourceType: "Patient", ID: "1"}},
		{"fail/root", "GET", "/", Interaction{}},
		{"fail/tester-home", "GET", "/home", Interaction{}},
		{"fail/base-prefix-not-segment", "GET", "/fhirx/Patient", Interaction{}},
		{"fail/base-case", "GET", "/FHIR/Patient", Interaction{}},
		{"fail/lowercase-type", "GET", "/fhir/patient", Interaction{}},
		{"fail/unknown-type", "GET", "/fhir/swagger-ui", Interaction{}},
		{"fail/api-docs", "GET", "/fhir/api-docs", Interaction{}},
		{"fail/metadata-post", "POST", "/fhir/metadata", Interaction{}},
		{"fail/delete-base", "DELETE", "/fhir", Interaction{}},
		{"fail/put-base", "PUT", "/fhir", Interaction{}},
		{"fail/options", "OPTIONS", "/fhir/metadata", Interaction{}},
		{"fail/options-type", "OPTIONS", "/fhir/Patient", Interaction{}},
		{"fail/trace", "TRACE", "/fhir/Patient/1", Interaction{}},
		{"fail/post-instance", "POST", "/fhir/Patient/1", Interaction{}},
		{"fail/bad-id", "GET", "/fhir/Patient/a_b", Interaction{}},
		{"fail/long-id", "GET", "/fhir/Patient/" + strings.Repeat("1", 65), Interaction{}},
		{"fail/bad-operation", "GET", "/fhir/$1x", Interaction{}},
		{"fail/empty-operation", "GET", "/fhir/Patient/$", Interaction{}},
		{"fail/delete-history", "DELETE", "/fhir/Patient/1/_history", Interaction{}},
		{"fail/compartment-not-defining", "GET", "/fhir/Observation/1/Patient", Interaction{}},
		{"fail/compartment-unknown", "GET", "/fhir/Patient/1/Nope", Interaction{}},
		{"fail/vread-bad-version", "GET", "/fhir/Patient/1/_history/a_b", Interaction{}},
		{"fail/too-deep", "GET", "/fhir/Patient/1/_history/2/x", Interaction{}},
		{"fail/way-too-deep", "GET", "/fhir/a/b/c/d/e/f/g", Interaction{}},
		{"fail/operation-put", "PUT", "/fhir/Patient/$match", Interaction{}},
		{"fail/search-delete", "DELETE", "/fhir/Patient/_search", Interaction{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.method, tt.path, "", testBases)
			if !tt.want.Valid {
				if got.Valid || got.Why == "" {
					t.Fatalf("Classify(%s %s) = %+v, want not FHIR with a reason", tt.method, tt.path, got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("Classify(%s %s) =\n %+v, want\n %+v", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

// typical is what point-of-service nodes send most: PDQm, PIXm, reads.
var typical = []struct{ method, target string }{
	{http.MethodGet, "/fhir/Patient?family=Smith&given=John&_count=10"},
	{http.MethodGet, "/fhir/Patient/p-0001"},
	{http.MethodGet, "/fhir/Patient/$ihe-pix?sourceIdentifier=urn:oid:1.2.3|123"},
	{http.MethodGet, "/hapi/fhir/Patient/p-0001/_history/2"},
	{http.MethodPost, "/fhir/Patient/%24match"},
}

// BenchmarkCanonicalizeClassify is the per-request cost fhir_guard adds
// before its scope lookup: split the target, canonicalise, classify.
func BenchmarkCanonicalizeClassify(b *testing.B) {
	b.ReportAllocs()
	var sink Interaction
	for i := 0; b.Loop(); i++ {
		tc := typical[i%len(typical)]
		p, q, err := SplitTarget(tc.target)
		if err != nil {
			b.Fatal(err)
		}
		c, err := Canonicalize(p)
		if err != nil {
			b.Fatal(err)
		}
		sink = Classify(tc.method, c, q, testBases)
		if !sink.Valid {
			b.Fatal(tc.target)
		}
	}
}

func BenchmarkCanonicalizeClassifyEach(b *testing.B) {
	for _, tc := range typical {
		b.Run(tc.target, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, q, _ := SplitTarget(tc.target)
				c, _ := Canonicalize(p)
				if in := Classify(tc.method, c, q, testBases); !in.Valid {
					b.Fatal(tc.target)
				}
			}
		})
	}
}
