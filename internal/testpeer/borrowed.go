package testpeer

import (
	"context"
	"reflect"
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
			ev.ID = borrow(ev.ID)
			js := []byte(ev.JSON)
			js = append(js[:0:0], js...)
			mem = append(mem, js)
			ev.JSON = js
			if ev.Record != nil {
				r := *ev.Record
				borrowStrings(reflect.ValueOf(&r).Elem(), borrow)
				ev.Record = &r
			}
			lent[j] = ev
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

func borrowStrings(v reflect.Value, borrow func(string) string) {
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(borrow(f.String()))
		case reflect.Struct:
			borrowStrings(f, borrow)
		}
	}
}
