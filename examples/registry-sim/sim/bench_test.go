package sim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is the cheapest possible http.ResponseWriter, so the
// handler benchmarks measure the simulator and not httptest.Recorder.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(status int)      { d.status = status }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

func benchHandler(b *testing.B, o Options, target string) {
	g := newReg(b, o)
	r := httptest.NewRequest("GET", target, nil)
	r.Host = "127.0.0.1:3000"
	w := &discardWriter{h: make(http.Header)}
	g.ServeHTTP(w, r)
	if w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
	b.SetBytes(int64(w.n))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.n = 0
		g.ServeHTTP(w, r)
	}
}

// Recording off, as the gateway benchmarks run it.
func BenchmarkSearchCount10(b *testing.B) {
	benchHandler(b, Options{NoRecord: true}, "/fhir/Patient?_count=10")
}

func BenchmarkSearchID(b *testing.B) {
	benchHandler(b, Options{NoRecord: true}, "/fhir/Patient?_id=p-0001")
}

func BenchmarkSearchFamily(b *testing.B) {
	benchHandler(b, Options{NoRecord: true}, "/fhir/Patient?family=kam&gender=female")
}

func BenchmarkRead(b *testing.B) {
	benchHandler(b, Options{NoRecord: true}, "/fhir/Patient/p-0001")
}

// With recording on: the cost of the evidence.
func BenchmarkReadRecorded(b *testing.B) {
	benchHandler(b, Options{MaxRecords: 1000}, "/fhir/Patient/p-0001")
}

// Over a real loopback connection with keep-alive: client, net/http server
// and simulator together, closer to what a gateway benchmark sees.
func BenchmarkSearchIDLoopback(b *testing.B) {
	g := newReg(b, Options{NoRecord: true})
	srv := httptest.NewServer(g)
	defer srv.Close()
	c := srv.Client()
	u := srv.URL + "/fhir/Patient?_id=p-0001"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(u)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
