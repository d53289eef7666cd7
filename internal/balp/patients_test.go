package balp

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/fhirreq"
)

func pid(id string) patient          { return patient{ID: id} }
func pident(sys, v string) patient   { return patient{System: sys, Value: v} }
func ps(p ...patient) []patient      { return p }
func fmtPatients(p []patient) string { return fmt.Sprint(p) }
func searchOn(rt string) fhirreq.Interaction {
	return fhirreq.Interaction{Valid: true, Code: "search-type", ResourceType: rt}
}

func TestPatientsOf(t *testing.T) {
	pix := fhirreq.Interaction{Valid: true, Code: "operation", ResourceType: "Patient", Operation: "ihe-pix"}
	tests := []struct {
		name string
		in   fhirreq.Interaction
		uri  string
		body string
		want []patient
	}{
		{"ok/read", fhirreq.Interaction{Valid: true, Code: "read", ResourceType: "Patient", ID: "123"}, "/fhir/Patient/123", "", ps(pid("123"))},
		{"ok/vread", fhirreq.Interaction{Valid: true, Code: "vread", ResourceType: "Patient", ID: "123", VersionID: "2"}, "/fhir/Patient/123/_history/2", "", ps(pid("123"))},
		{"ok/instance-operation", fhirreq.Interaction{Valid: true, Code: "operation", ResourceType: "Patient", ID: "123", Operation: "everything"}, "/fhir/Patient/123/$everything", "", ps(pid("123"))},
		{"ok/compartment", fhirreq.Interaction{Valid: true, Code: "search-type", ResourceType: "Patient", ID: "123", Compartment: "Observation"}, "/fhir/Patient/123/Observation?patient=456", "", ps(pid("123"), pid("456"))},
		{"ok/patient-param-id", searchOn("Observation"), "/fhir/Observation?patient=123", "", ps(pid("123"))},
		{"ok/patient-param-typed", searchOn("Observation"), "/fhir/Observation?patient=Patient/123", "", ps(pid("123"))},
		{"ok/patient-param-absolute", searchOn("Observation"), "/fhir/Observation?patient=https%3A%2F%2Fr.example%2Ffhir%2FPatient%2F123%2F_history%2F4", "", ps(pid("123"))},
		{"ok/patient-param-or-list", searchOn("Observation"), "/fhir/Observation?patient=1,Patient/2,1", "", ps(pid("1"), pid("2"))},
		{"ok/patient-modifier", searchOn("Observation"), "/fhir/Observation?patient:Patient=9", "", ps(pid("9"))},
		{"ok/subject-patient", searchOn("Observation"), "/fhir/Observation?subject=Patient/5", "", ps(pid("5"))},
		{"ok/subject-modifier", searchOn("Observation"), "/fhir/Observation?subject:Patient=5", "", ps(pid("5"))},
		{"ok/subject-group-ignored", searchOn("Observation"), "/fhir/Observation?subject=Group/5", "", nil},
		{"ok/subject-untyped-ignored", searchOn("Observation"), "/fhir/Observation?subject=5", "", nil},
		{"ok/subject-xpatient-ignored", searchOn("Observation"), "/fhir/Observation?subject=XPatient/5", "", nil},
		{"ok/identifier-on-patient", searchOn("Patient"), "/fhir/Patient?identifier=urn:oid:1.2.3|4711", "", ps(pident("urn:oid:1.2.3", "4711"))},
		{"ok/identifier-value-only", searchOn("Patient"), "/fhir/Patient?identifier=4711", "", ps(pident("", "4711"))},
		{"ok/identifier-or-list", searchOn("Patient"), "/fhir/Patient?identifier=a|1,b|2", "", ps(pident("a", "1"), pident("b", "2"))},
		{"ok/identifier-escaped", searchOn("Patient"), "/fhir/Patient?identifier=sys|a%5C%2Cb%5C%7Cc", "", ps(pident("sys", "a,b|c"))},
		{"ok/identifier-on-observation-ignored", searchOn("Observation"), "/fhir/Observation?identifier=urn:x|1", "", nil},
		{"ok/chained-identifier", searchOn("Observation"), "/fhir/Observation?patient.identifier=urn:x|1", "", ps(pident("urn:x", "1"))},
		{"ok/chained-identifier-typed", searchOn("Observation"), "/fhir/Observation?subject:Patient.identifier=urn:x|1", "", ps(pident("urn:x", "1"))},
		{"ok/_id-on-patient", searchOn("Patient"), "/fhir/Patient?_id=7,8", "", ps(pid("7"), pid("8"))},
		{"ok/_id-on-observation-ignored", searchOn("Observation"), "/fhir/Observation?_id=7", "", nil},
		{"ok/pixm-source-identifier", pix, "/fhir/Patient/$ihe-pix?sourceIdentifier=urn:oid:1.3.6|IHERED-994&targetSystem=urn:oid:9", "", ps(pident("urn:oid:1.3.6", "IHERED-994"))},
		{"ok/pixm-identifier-not-a-patient", pix, "/fhir/Patient/$ihe-pix?identifier=x", "", nil},
		{"ok/source-identifier-elsewhere-ignored", searchOn("Patient"), "/fhir/Patient?sourceIdentifier=a|b", "", nil},
		{"ok/post-search-body", searchOn("Patient"), "/fhir/Patient/_search", "family=X&identifier=urn:x%7C42", ps(pident("urn:x", "42"))},
		{"ok/url-and-body", searchOn("Observation"), "/fhir/Observation/_search?patient=1", "patient=2", ps(pid("1"), pid("2"))},
		{"ok/plus-is-space-not-id", searchOn("Observation"), "/fhir/Observation?patient=a+b", "", nil},
		{"fail/not-fhir", fhirreq.Interaction{}, "/crux/?patient=1", "", nil},
		{"fail/bad-id-traversal", searchOn("Observation"), "/fhir/Observation?patient=..%2F..%2Fetc", "", nil},
		{"fail/id-too-long", searchOn("Observation"), "/fhir/Observation?patient=" + strings.Repeat("a", 65), "", nil},
		{"fail/bad-escape-skipped", searchOn("Observation"), "/fhir/Observation?patient=%zz&patient=3", "", ps(pid("3"))},
		{"fail/identifier-too-many-pipes", searchOn("Patient"), "/fhir/Patient?identifier=a|b|c", "", nil},
		{"fail/identifier-system-space", searchOn("Patient"), "/fhir/Patient?identifier=a%20b|c", "", nil},
		{"fail/identifier-empty-value", searchOn("Patient"), "/fhir/Patient?identifier=urn:x|", "", nil},
		{"fail/identifier-control-char", searchOn("Patient"), "/fhir/Patient?identifier=urn:x|a%00b", "", nil},
		{"fail/identifier-too-long", searchOn("Patient"), "/fhir/Patient?identifier=urn:x|" + strings.Repeat("9", 300), "", nil},
		{"fail/bad-instance-id", fhirreq.Interaction{Valid: true, Code: "read", ResourceType: "Patient", ID: "a b"}, "/fhir/Patient/a%20b", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &auditrec.Record{FHIR: tc.in, URI: tc.uri, SearchBody: tc.body}
			if got := patientsOf(rec, nil); fmtPatients(got) != fmtPatients(tc.want) {
				t.Errorf("patients %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPatientsBounded: a URL naming thousands of patients yields at most
// maxPatients entities.
func TestPatientsBounded(t *testing.T) {
	var ids []string
	for i := 0; i < 5000; i++ {
		ids = append(ids, fmt.Sprint(i))
	}
	rec := &auditrec.Record{FHIR: searchOn("Observation"), URI: "/fhir/Observation?patient=" + strings.Join(ids, ",") + "&patient=x&subject=Patient/y"}
	got := patientsOf(rec, nil)
	if len(got) != maxPatients || got[0].ID != "0" || got[maxPatients-1].ID != fmt.Sprint(maxPatients-1) {
		t.Errorf("got %d patients %v, want the first %d", len(got), got, maxPatients)
	}
}

// FuzzPatientsOf: whatever the URL and body, extraction never panics,
// stays bounded, and yields only valid ids and clean identifiers; and the
// whole event still builds and validates.
func FuzzPatientsOf(f *testing.F) {
	for _, s := range []string{
		"/fhir/Observation?patient=1,Patient/2&subject=Patient/3",
		"/fhir/Patient?identifier=a|b&_id=4",
		"/fhir/Patient/$ihe-pix?sourceIdentifier=urn:oid:1|x",
		"?patient=%", "?&&==&patient==", "?patient=\\", "?identifier=\\|\\,|\\", "?patient=/Patient/", "?subject=Patient",
		"?patient=http://x/Patient/1/_history/", "?patient=Patient/_history/1",
	} {
		f.Add(s, "identifier=x|y", "Patient", "operation", "ihe-pix")
	}
	b := newTestBuilder(f, testSource())
	u := fhirUnmarshaller(f)
	f.Fuzz(func(t *testing.T, uri, body, rt, code, op string) {
		in := fhirreq.Interaction{Valid: true, Code: code, ResourceType: rt, Operation: op}
		rec := &auditrec.Record{Kind: auditrec.KindRequest, ID: "fuzz", Time: testTime, FHIR: in, URI: uri, SearchBody: body, Method: "GET", Status: 200}
		got := patientsOf(rec, nil)
		if len(got) > maxPatients {
			t.Fatalf("%d patients", len(got))
		}
		for _, p := range got {
			switch {
			case p.ID != "":
				if !validID(p.ID) || p.Value != "" {
					t.Fatalf("bad patient %+v", p)
				}
			default:
				if p.Value == "" || !utf8.ValidString(p.Value) || len(p.Value) > maxIdentifier || !validURI(p.System) {
					t.Fatalf("bad identifier %+v", p)
				}
			}
		}
		out, err := b.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Unmarshal(out); err != nil {
			t.Fatalf("event does not validate: %v\n%s", err, out)
		}
	})
}
