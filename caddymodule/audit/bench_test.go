package audit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/crgate/crgate/caddymodule/audit/filesink"
	"github.com/crgate/crgate/internal/balp"
)

// BenchmarkHandler measures the audit handler's cost on the request path:
// capture, request id, spool append (and, under sync, the wait for the
// group-committed fsync), with a next handler that does nothing. Each
// iteration clears the request's "recorded" mark: the handler records a
// request once, so without that every iteration but the first would only
// call next. The records go nowhere (no delivery loop): this is the
// request path alone; BenchmarkPipelineFileSink measures delivery.
func BenchmarkHandler(b *testing.B) {
	for _, mode := range []string{DurabilityAsync, DurabilitySync} {
		b.Run(mode, func(b *testing.B) {
			s, err := openSpool(spoolConfig{dir: b.TempDir(), maxBytes: 8 << 30, segmentBytes: 64 << 20, logger: zap.NewNop()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.close()
			h := &Handler{app: &App{inflight: new(atomic.Int64), spool: s, sync: mode == DurabilitySync, logger: zap.NewNop()}, logger: zap.NewNop(), MaxSearchBody: defaultMaxSearchBody}
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				w.WriteHeader(200)
				return nil
			})
			b.ReportAllocs()
			// 64 requests in flight whatever GOMAXPROCS is, as in the
			// bench's c64 workloads: under sync they share fsyncs.
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				r := caddyRequest("GET", "/fhir/Patient?family=Smith&_count=10", nil)
				r.Header.Set("X-Request-Id", "bench-request-id-0001")
				vars := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
				w := httptest.NewRecorder()
				for pb.Next() {
					delete(vars, recordedVar)
					if err := h.ServeHTTP(w, r, next); err != nil {
						b.Fatal(err)
					}
				}
			})
			s.mu.Lock()
			events := s.nextSeq - 1
			s.mu.Unlock()
			if events != uint64(b.N) {
				b.Fatalf("%d events recorded for %d requests", events, b.N)
			}
		})
	}
}

// BenchmarkPipelineFileSink measures what the pipeline sustains from the
// spool to the file sink: b.N records appended, timed until the sink's
// cursor has passed the last one (decode, BALP build, hash chain, fsync).
// internal/balp has the builder's own benchmarks (fast encoder and
// google/fhir/go's jsonformat).
func BenchmarkPipelineFileSink(b *testing.B) {
	dir := b.TempDir()
	s, err := openSpool(spoolConfig{dir: filepath.Join(dir, "spool"), maxBytes: 8 << 30, segmentBytes: 64 << 20, logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	// No rotation: a rotation's log line would break the benchmark output.
	fs := &filesink.Sink{Path: filepath.Join(dir, "audit.jsonl"), CheckpointKey: filepath.Join(dir, "cp.key"), RollSize: 1 << 40}
	if err := fs.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	defer fs.Cleanup()
	builder, err := balp.NewBuilder(balp.Source{Site: "bench", ObserverID: "gw-bench"})
	if err != nil {
		b.Fatal(err)
	}
	cur, err := s.cursor("file")
	if err != nil {
		b.Fatal(err)
	}
	app := &App{inflight: new(atomic.Int64), spool: s, builder: builder, logger: zap.NewNop(), BatchSize: defaultBatchSize,
		RetryMin: caddy.Duration(defaultRetryMin), RetryMax: caddy.Duration(defaultRetryMax),
		sinks: []*sinkRun{{name: "file", sink: fs, cursor: cur, reader: s.newReader()}}}
	rec := testRecord(1)
	rec.NodeID, rec.NodeName, rec.Upstream = "alpha", "Node alpha", "http://127.0.0.1:3000"
	rec.FHIR.Valid, rec.FHIR.Code, rec.FHIR.ResourceType, rec.FHIR.Base = true, "search-type", "Patient", "/fhir"
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := app.Start(); err != nil {
		b.Fatal(err)
	}
	var last uint64
	for range b.N {
		rec.ID = newUUID()
		if last, err = s.append(frameEvent, 0, rec, false, false); err != nil {
			b.Fatal(err)
		}
	}
	for cur.seq.Load() < last {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	app.stopDelivery()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
