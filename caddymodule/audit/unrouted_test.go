package audit

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/crgate/crgate/internal/auditrec"
)

// TestConnWatch plays the hook's states for one HTTP/1.x connection and
// checks which requests come out as not_routed records.
func TestConnWatch(t *testing.T) {
	type step struct {
		state  http.ConnState
		routed bool // an audit handler sees the request before this state
	}
	active, idle, closed, hijacked := http.StateActive, http.StateIdle, http.StateClosed, http.StateHijacked
	tests := []struct {
		name  string
		steps []step
		want  int
	}{
		{"routed-requests-on-keep-alive", []step{{active, false}, {idle, true}, {active, false}, {idle, true}, {closed, false}}, 0},
		{"unparsed-then-closed", []step{{active, false}, {closed, false}}, 1},
		{"options-asterisk-then-routed", []step{{active, false}, {idle, false}, {active, false}, {idle, true}, {closed, false}}, 1},
		{"routed-then-cut-off", []step{{active, false}, {idle, true}, {active, false}, {closed, false}}, 1},
		{"idle-close-reads-nothing", []step{{closed, false}}, 0},
		{"hijacked-after-routing", []step{{active, false}, {hijacked, true}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []*auditrec.Record
			w := &connWatch{record: func(r *auditrec.Record) { got = append(got, r) }}
			c, peer := net.Pipe()
			defer c.Close()
			defer peer.Close()
			ctx := w.connContext(context.Background(), c)
			r := (&http.Request{}).WithContext(ctx)
			w.connState(c, http.StateNew)
			for _, s := range tt.steps {
				if s.routed {
					markRouted(r)
				}
				w.connState(c, s.state)
			}
			if len(got) != tt.want {
				t.Fatalf("%d records, want %d", len(got), tt.want)
			}
			for _, rec := range got {
				if rec.Kind != auditrec.KindRequest || rec.RefusalModule != unroutedModule || rec.RefusalReason != unroutedReason || rec.ID == "" {
					t.Errorf("record %+v", rec)
				}
			}
			if _, left := w.conns.Load(c); left {
				t.Error("the connection is still watched after it closed")
			}
		})
	}
}

// BenchmarkConnWatchRequest is what the watch adds to an HTTP/1.x
// request on a kept-alive connection: two hook calls and the handler's
// mark.
func BenchmarkConnWatchRequest(b *testing.B) {
	w := &connWatch{record: func(*auditrec.Record) { b.Fatal("recorded a routed request") }}
	c, peer := net.Pipe()
	defer c.Close()
	defer peer.Close()
	r := (&http.Request{}).WithContext(w.connContext(context.Background(), c))
	w.connState(c, http.StateNew)
	b.ReportAllocs()
	for b.Loop() {
		w.connState(c, http.StateActive)
		markRouted(r)
		w.connState(c, http.StateIdle)
	}
}
