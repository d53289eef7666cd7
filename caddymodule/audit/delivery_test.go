package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/balp"
)

// fakeSink records what it is given; fail decides, per call, how many of
// the leading events it takes and whether it reports an error.
type fakeSink struct {
	mu    sync.Mutex
	got   []string // event ids, in delivery order
	calls int
	fail  func(call, n int) (int, error)
}

func (f *fakeSink) Deliver(ctx context.Context, evs []auditsink.Event) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	n, err := len(evs), error(nil)
	if f.fail != nil {
		n, err = f.fail(f.calls, len(evs))
	}
	for _, e := range evs[:n] {
		if len(e.JSON) == 0 || e.Record == nil || e.ID != e.Record.ID {
			panic("an event without its JSON or record")
		}
		// The JSON, the record and the seq must be one event's: memory
		// reused too early would mix events.
		if !bytes.Contains(e.JSON, []byte(`"id":"`+e.ID+`"`)) || !strings.HasSuffix(e.Record.RequestID, fmt.Sprintf("-%d", e.Seq-1)) {
			panic(fmt.Sprintf("event %d: JSON, record and seq disagree: %s %+v", e.Seq, e.JSON, e.Record))
		}
		f.got = append(f.got, strings.Clone(e.ID)) // valid only during Deliver
	}
	return n, err
}

func (f *fakeSink) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func testApp(t *testing.T, s *spool, sinks map[string]auditsink.Sink) *App {
	t.Helper()
	b, err := balp.NewBuilder(balp.Source{ObserverID: "gw-test"})
	if err != nil {
		t.Fatal(err)
	}
	a := &App{inflight: new(atomic.Int64), spool: s, builder: b, logger: zap.NewNop(), BatchSize: 7,
		RetryMin: caddy.Duration(time.Millisecond), RetryMax: caddy.Duration(20 * time.Millisecond)}
	if len(sinks) > 1 {
		a.cache = newEventCache(64) // as Provision does
	}
	for name, sink := range sinks {
		c, err := s.cursor(name)
		if err != nil {
			t.Fatal(err)
		}
		a.sinks = append(a.sinks, &sinkRun{name: name, sink: sink, cursor: c, reader: s.newReader()})
	}
	return a
}

func appendN(t *testing.T, s *spool, from, n int) []string {
	t.Helper()
	var ids []string
	for i := from; i < from+n; i++ {
		rec := testRecord(i)
		rec.ID = newUUID()
		ids = append(ids, rec.ID)
		if _, err := s.append(frameEvent, 0, rec, false, false); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func waitDelivered(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sameOrder(t *testing.T, name string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events delivered, want exactly %d", name, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d is %s, want %s (order)", name, i, got[i], want[i])
		}
	}
}

// TestDeliveryCatchesUpInOrder: one sink down for a while and taking
// partial batches, another healthy; both end with every event once, in
// spool order.
func TestDeliveryCatchesUpInOrder(t *testing.T) {
	s := testSpool(t, t.TempDir(), 64<<20)
	down := &fakeSink{fail: func(call, n int) (int, error) {
		switch {
		case call <= 5:
			return 0, errors.New("connection refused")
		case call%2 == 0:
			return n / 2, errors.New("partial")
		}
		return n, nil
	}}
	healthy := &fakeSink{}
	a := testApp(t, s, map[string]auditsink.Sink{"down": down, "healthy": healthy})
	want := appendN(t, s, 0, 50)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	want = append(want, appendN(t, s, 50, 50)...)
	waitDelivered(t, "both sinks", func() bool { return len(down.ids()) >= 100 && len(healthy.ids()) >= 100 })
	a.stopDelivery()
	sameOrder(t, "down", down.ids(), want)
	sameOrder(t, "healthy", healthy.ids(), want)
	if down.calls <= 5 {
		t.Fatal("the failing sink was not retried")
	}
}

// TestDeliveryLoneSinkPartialBatches: a lone sink (batches built in
// reused memory) that fails and takes partial batches still gets every
// event once, in order, each with its own JSON and record — the events
// held over from a partial batch are not overwritten by the next read.
func TestDeliveryLoneSinkPartialBatches(t *testing.T) {
	s := testSpool(t, t.TempDir(), 64<<20)
	sink := &fakeSink{fail: func(call, n int) (int, error) {
		switch {
		case call <= 2:
			return 0, errors.New("connection refused")
		case call%2 == 0:
			return n / 2, errors.New("partial")
		}
		return n, nil
	}}
	a := testApp(t, s, map[string]auditsink.Sink{"file": sink})
	want := appendN(t, s, 0, 50)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	want = append(want, appendN(t, s, 50, 50)...)
	waitDelivered(t, "every event", func() bool { return len(sink.ids()) >= 100 })
	a.stopDelivery()
	sameOrder(t, "sink", sink.ids(), want)
}

// TestDeliveryLoneSinkBigBatches: batches big enough to be built by
// several workers (one per 32 events, up to one per CPU) into their own
// buffers still give each event its own JSON and record, in order.
func TestDeliveryLoneSinkBigBatches(t *testing.T) {
	s := testSpool(t, t.TempDir(), 64<<20)
	sink := &fakeSink{}
	a := testApp(t, s, map[string]auditsink.Sink{"file": sink})
	a.BatchSize = 256
	want := appendN(t, s, 0, 700)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, "every event", func() bool { return len(sink.ids()) >= len(want) })
	a.stopDelivery()
	sameOrder(t, "sink", sink.ids(), want)
}

// TestDeliveryOverlappingConfigs runs two apps (an old and a new config
// during a reload) on one spool and one cursor name: each event reaches
// the destination once.
func TestDeliveryOverlappingConfigs(t *testing.T) {
	s := testSpool(t, t.TempDir(), 64<<20)
	dest := &fakeSink{}
	oldApp := testApp(t, s, map[string]auditsink.Sink{"file": dest})
	newApp := testApp(t, s, map[string]auditsink.Sink{"file": dest})
	if err := oldApp.Start(); err != nil {
		t.Fatal(err)
	}
	if err := newApp.Start(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 20 {
		want = append(want, appendN(t, s, i*10, 10)...)
		time.Sleep(time.Millisecond)
	}
	waitDelivered(t, "every event", func() bool { return len(dest.ids()) >= len(want) })
	time.Sleep(50 * time.Millisecond) // room for a duplicate to show
	oldApp.stopDelivery()
	newApp.stopDelivery()
	sameOrder(t, "destination", dest.ids(), want)
}

// TestDeliverySkipsUnbuildableRecords: a record the builder rejects is
// logged and passed over; it does not block the events after it.
func TestDeliverySkipsUnbuildableRecords(t *testing.T) {
	s := testSpool(t, t.TempDir(), 64<<20)
	sink := &fakeSink{}
	a := testApp(t, s, map[string]auditsink.Sink{"file": sink})
	want := appendN(t, s, 0, 3)
	bad := testRecord(3)
	bad.Kind = auditrec.Kind(200)
	if _, err := s.append(frameEvent, 0, bad, false, false); err != nil {
		t.Fatal(err)
	}
	want = append(want, appendN(t, s, 4, 3)...)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, "the good events", func() bool { return len(sink.ids()) >= 6 })
	_, written := s.stats()
	waitDelivered(t, "the cursor past the bad record", func() bool { return a.sinks[0].cursor.seq.Load() == written })
	a.stopDelivery()
	sameOrder(t, "sink", sink.ids(), want)
}
