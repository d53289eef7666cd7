package testpeer

import (
	"context"
	"testing"
	"unsafe"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
)

// DeliverBorrowed hands each batch to sink the way the audit app does
// (auditsink.Event's contract): the events' JSON, ID and every string of
// their Record live in memory that is overwritten with '#' as soon as
// Deliver returns. A sink that keeps any of it past Deliver (a queue, a
// background writer, a retry or dedup buffer) then sends or stores '#'s,
// which the caller's check of the destination catches. Every batch must
// be taken whole.
func DeliverBorrowed(t testing.TB, sink auditsink.Sink, batches ...[]auditsink.Event) {
	t.Helper()
	for i, batch := range batches {
		var mem [][]byte
		borrow := func(s string) string {
			if s == "" {
				return ""
			}
			b := []byte(s)
			mem = append(mem, b)
			return unsafe.String(&b[0], len(b))
		}
		lent := make([]auditsink.Event, len(batch))
		for j, ev := range batch {
			lent[j] = ev.CopyWith(borrow, func(js []byte) []byte {
				js = append(js[:0:0], js...)
				mem = append(mem, js)
				return js
			})
		}
		n, err := sink.Deliver(context.Background(), lent)
		for _, b := range mem {
			for k := range b {
				b[k] = '#'
			}
		}
		if err != nil || n != len(batch) {
			t.Fatalf("batch %d: Deliver = %d of %d, %v", i, n, len(batch), err)
		}
	}
}
