package audit

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
)

// A trickle of events, each committed on its own, reaches the sink in a
// few batches, not one call (and one file-sink fsync) per event.
func TestDeliveryLingersAfterPartialBatch(t *testing.T) {
	s := testSpool(t, t.TempDir(), 64<<20) // commits every append at once
	sink := &fakeSink{}
	a := testApp(t, s, map[string]auditsink.Sink{"fake": sink})
	a.BatchSize = 1000
	// Long enough that the trickle below (20 separate fsyncs) fits in one
	// linger even on a loaded machine.
	a.BatchLinger = caddy.Duration(2 * time.Second)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.stopDelivery()
	want := appendN(t, s, 0, 1)
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, "the first event", func() bool { return len(sink.ids()) >= 1 })
	for i := 1; i <= 20; i++ {
		want = append(want, appendN(t, s, i, 1)...)
		if err := s.flush(); err != nil { // its own commit, its own wake-up
			t.Fatal(err)
		}
	}
	waitDelivered(t, "the trickle", func() bool { return len(sink.ids()) == len(want) })
	sameOrder(t, "fake", sink.ids(), want)
	sink.mu.Lock()
	calls := sink.calls
	sink.mu.Unlock()
	// Start's application event may take a call of its own.
	if calls > 4 {
		t.Fatalf("%d Deliver calls for 21 trickled events; want the trickle gathered into a batch or two", calls)
	}
}
