package syslogsink

import (
	"context"
	"testing"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/testpeer"
)

// BenchmarkDeliverToRsyslog measures events/s to a real rsyslog over
// mutual TLS, in batches of 256 (the audit app's default), with ~2.5 KiB
// AuditEvents.
func BenchmarkDeliverToRsyslog(b *testing.B) {
	pki := testpeer.NewPKI(b, b.TempDir())
	r := testpeer.StartRsyslog(b, pki, testpeer.RsyslogOptions{})
	s := &Sink{Address: r.Addr(), CAFile: pki.CAFile, TLSCertFile: pki.ClientCert, TLSKeyFile: pki.ClientKey, DeadLetterFile: b.TempDir() + "/d"}
	testpeer.Provision(b, s)
	evs := make([]auditsink.Event, 256)
	for i := range evs {
		evs[i] = testpeer.AuditEvent(b, uint64(i+1), "p", 0)
	}
	b.SetBytes(int64(len(evs[0].JSON)))
	b.ResetTimer()
	for done := 0; done < b.N; {
		batch := evs[:min(len(evs), b.N-done)]
		n, err := s.Deliver(context.Background(), batch)
		if err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.StopTimer()
	r.WaitMessages(b.N, 120e9)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
