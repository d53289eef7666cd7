package fhirsink

import (
	"context"
	"testing"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/testpeer"
)

// BenchmarkDeliverToMedplum measures events/s into the FHIR test server
// (medplum's router, in-memory, validating every event) in Bundles of 100.
// It measures that server as much as the sink.
func BenchmarkDeliverToMedplum(b *testing.B) {
	srv := testpeer.StartFHIR(b, testpeer.FHIROptions{})
	s := &Sink{URL: srv.Base, DeadLetterFile: b.TempDir() + "/d"}
	testpeer.Provision(b, s)
	evs := make([]auditsink.Event, b.N)
	for i := range evs {
		evs[i] = testpeer.AuditEvent(b, uint64(i+1), "p", 0)
	}
	b.ResetTimer()
	for done := 0; done < b.N; {
		n, err := s.Deliver(context.Background(), evs[done:min(b.N, done+256)])
		if err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
