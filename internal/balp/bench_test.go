package balp

import (
	"testing"

	"github.com/crgate/crgate/internal/fhirreq"
)

// BenchmarkMarshal is the builder's cost per event on the common path (a
// PDQm search naming a patient), with the fast encoder and with
// google/fhir/go's jsonformat for comparison:
//
//	go test -run '^$' -bench Marshal -benchmem ./internal/balp
func BenchmarkMarshal(b *testing.B) {
	rec := served("search-type", "GET", "/fhir/Patient?family=MOHR&given=ALICE&identifier=urn:oid:1.2.3|4711", fhirreq.Interaction{ResourceType: "Patient"})
	for _, bc := range []struct {
		name string
		ref  bool
	}{{"fast", false}, {"jsonformat", true}} {
		b.Run(bc.name, func(b *testing.B) {
			src := testSource()
			src.JSONFormat = bc.ref
			bl := newTestBuilder(b, src)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bl.Marshal(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMarshalParallel is the fast path across all cores, as the
// pipeline's workers use one Builder.
func BenchmarkMarshalParallel(b *testing.B) {
	rec := served("read", "GET", "/fhir/Patient/123", fhirreq.Interaction{ResourceType: "Patient", ID: "123"})
	bl := newTestBuilder(b, testSource())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bl.Marshal(rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
