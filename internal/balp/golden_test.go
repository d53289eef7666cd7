package balp

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/crgate/crgate/internal/auditrec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fhirUnmarshaller is google/fhir/go's validating R4 unmarshaller: it
// refuses unknown elements, missing required ones (e.g. agent.requestor),
// bad codes for required bindings and malformed primitives.
func fhirUnmarshaller(t testing.TB) *jsonformat.Unmarshaller {
	t.Helper()
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newTestBuilder(t testing.TB, src Source) *Builder {
	t.Helper()
	b, err := NewBuilder(src)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden builds each case's event and compares it with
// testdata/<case>.json (indented there for review; compared as compact
// JSON). Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	b := newTestBuilder(t, testSource())
	u := fhirUnmarshaller(t)
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.Marshal(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Unmarshal(got); err != nil {
				t.Fatalf("event does not validate as FHIR R4: %v\n%s", err, got)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatalf("event is not JSON: %v", err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", tc.name+".json")
			if *update {
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("event differs from %s (go test -update rewrites it):\ngot:\n%s", path, pretty.Bytes())
			}
		})
	}
}

// TestFastEncoderMatchesJSONFormat proves the fast encoder writes exactly
// what jsonformat writes, for every golden event.
func TestFastEncoderMatchesJSONFormat(t *testing.T) {
	fast := newTestBuilder(t, testSource())
	refSrc := testSource()
	refSrc.Reference = true
	ref := newTestBuilder(t, refSrc)
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			assertSameBytes(t, fast, ref, tc.rec)
		})
	}
}

func assertSameBytes(t *testing.T, fast, ref *Builder, r *auditrec.Record) {
	t.Helper()
	a, errA := fast.Marshal(r)
	b, errB := ref.Marshal(r)
	if (errA == nil) != (errB == nil) {
		t.Fatalf("fast err %v, jsonformat err %v", errA, errB)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("fast encoder differs from jsonformat:\nfast:       %s\njsonformat: %s", a, b)
	}
}
