package loadgen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer requires and verifies a client certificate, like crgate, and
// remembers what it saw: requests, protocols, distinct connections, and
// the bodies' hashes.
type testServer struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   int
	protos map[string]int
	conns  map[string]bool
	bodies map[[32]byte]int
}

func newTestServer(t *testing.T, p *testPKI) *testServer {
	t.Helper()
	s := &testServer{protos: map[string]int{}, conns: map[string]bool{}, bodies: map[[32]byte]int{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs++
		s.protos[r.Proto]++
		s.conns[r.RemoteAddr] = true
		if len(body) > 0 {
			s.bodies[sha256.Sum256(body)]++
		}
		s.mu.Unlock()
		if r.URL.Path == "/fail" {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write(bytes.Repeat([]byte("x"), 1300))
	}))
	s.EnableHTTP2 = true
	s.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) seen() (reqs int, protos map[string]int, conns int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs, s.protos, len(s.conns)
}

func run(t *testing.T, c Config) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, c)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func TestRunHTTP1KeepAlive(t *testing.T) {
	p := newTestPKI(t)
	s := newTestServer(t, p)
	res := run(t, Config{URL: s.URL + "/fhir/Patient", Concurrency: 4, Duration: time.Hour / 10, Requests: 200, TLS: p.clientTLS()})
	reqs, protos, conns := s.seen()
	if res.Requests != 200 || res.OK != 200 || res.Errors != 0 {
		t.Fatalf("requests %d ok %d errors %d %v, want 200 ok", res.Requests, res.OK, res.Errors, res.ErrorKinds)
	}
	// No warm-up: the server saw exactly the measured requests, each
	// worker over its own kept-alive connection.
	if reqs != 200 || protos["HTTP/1.1"] != 200 {
		t.Errorf("server saw %d requests, protocols %v", reqs, protos)
	}
	if res.Dials != 4 || conns != 4 {
		t.Errorf("%d dials, server saw %d connections; want 4 (one per worker)", res.Dials, conns)
	}
	if res.BytesIn != 200*1300 {
		t.Errorf("read %d bytes, want %d", res.BytesIn, 200*1300)
	}
	if res.Hist.Count() != 200 || res.P50ms <= 0 || res.P99ms < res.P50ms || res.MaxMs < res.P99ms {
		t.Errorf("latency figures inconsistent: n=%d p50 %v p99 %v max %v", res.Hist.Count(), res.P50ms, res.P99ms, res.MaxMs)
	}
}

func TestRunHTTP2SharesConnections(t *testing.T) {
	p := newTestPKI(t)
	s := newTestServer(t, p)
	res := run(t, Config{URL: s.URL + "/", HTTP2: true, Concurrency: 8, H2Conns: 2, Duration: time.Hour / 10, Requests: 300, TLS: p.clientTLS()})
	reqs, protos, conns := s.seen()
	if res.OK != 300 || res.Proto != "h2" || res.Conns != 2 {
		t.Fatalf("ok %d proto %s conns %d, want 300 h2 2", res.OK, res.Proto, res.Conns)
	}
	// One priming request per connection, then the measured ones.
	if reqs != 302 || protos["HTTP/2.0"] != reqs {
		t.Errorf("server saw %d requests, protocols %v; want 302 over HTTP/2", reqs, protos)
	}
	if res.Dials != 2 || conns != 2 {
		t.Errorf("%d dials, server saw %d connections; want 2", res.Dials, conns)
	}
}

func TestRunHandshakePerRequest(t *testing.T) {
	p := newTestPKI(t)
	s := newTestServer(t, p)
	res := run(t, Config{URL: s.URL + "/", Handshake: true, Concurrency: 2, Duration: time.Hour / 10, Requests: 40, TLS: p.clientTLS()})
	_, _, conns := s.seen()
	if res.OK != 40 || res.Mode != "handshake" {
		t.Fatalf("ok %d mode %s", res.OK, res.Mode)
	}
	if res.Dials != 40 || conns != 40 {
		t.Errorf("%d dials, server saw %d connections; want one per request (40)", res.Dials, conns)
	}
}

func TestRunPostsTheBody(t *testing.T) {
	p := newTestPKI(t)
	s := newTestServer(t, p)
	body := bytes.Repeat([]byte(`{"resourceType":"Bundle"}`), 40_000) // 1 MB
	res := run(t, Config{URL: s.URL + "/fhir", Method: http.MethodPost, Body: body, ContentType: "application/fhir+json",
		Concurrency: 2, Duration: time.Hour / 10, Requests: 10, TLS: p.clientTLS()})
	if res.OK != 10 {
		t.Fatalf("ok %d errors %v", res.OK, res.ErrorKinds)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.bodies[sha256.Sum256(body)]; n != 10 {
		t.Errorf("server received the whole body %d times, want 10 (bodies seen: %d)", n, len(s.bodies))
	}
}

func TestRunDurationBound(t *testing.T) {
	p := newTestPKI(t)
	s := newTestServer(t, p)
	var marks bytes.Buffer
	res := run(t, Config{URL: s.URL + "/", Concurrency: 2, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond,
		Requests: MaxRequests, TLS: p.clientTLS(), Marks: &marks})
	if res.OK == 0 || res.Errors != 0 {
		t.Fatalf("ok %d errors %v", res.OK, res.ErrorKinds)
	}
	// The window lasted the duration, and ended long before the request
	// bound could have ended it.
	if res.ElapsedS < 0.2 || res.ElapsedS > 10 {
		t.Errorf("measured window %.3fs, want about 0.2s", res.ElapsedS)
	}
	if marks.String() != "# measure start\n# measure end\n" {
		t.Errorf("marks %q", marks.String())
	}
	reqs, _, _ := s.seen()
	if int64(reqs) <= res.Requests {
		t.Errorf("server saw %d requests, measured %d: the warm-up made none", reqs, res.Requests)
	}
}

func TestRunCountsFailures(t *testing.T) {
	p := newTestPKI(t)
	s := newTestServer(t, p)
	res := run(t, Config{URL: s.URL + "/fail", Concurrency: 1, Duration: time.Hour / 10, Requests: 5, TLS: p.clientTLS()})
	if res.OK != 0 || res.Errors != 5 || res.ErrorKinds["status_503"] != 5 {
		t.Errorf("ok %d errors %d kinds %v, want 5 × status_503", res.OK, res.Errors, res.ErrorKinds)
	}
	// Without a client certificate the server refuses every handshake.
	noCert := &tls.Config{RootCAs: p.pool}
	res = run(t, Config{URL: s.URL + "/", Concurrency: 1, Duration: time.Hour / 10, Requests: 5, TLS: noCert})
	if res.OK != 0 || res.ErrorKinds["tls"] != 5 {
		t.Errorf("without a certificate: ok %d kinds %v, want 5 × tls", res.OK, res.ErrorKinds)
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	_, err := Run(context.Background(), Config{URL: "https://192.0.2.1/", Concurrency: 1, Duration: time.Second, Requests: 1})
	if !errors.Is(err, ErrNotLoopback) {
		t.Errorf("Run against 192.0.2.1: %v, want ErrNotLoopback", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{URL: "https://127.0.0.1/", Concurrency: 1, Duration: time.Second, Requests: 1}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"ok/minimal", func(*Config) {}, ""},
		{"ok/h2", func(c *Config) { c.HTTP2, c.Concurrency, c.H2Conns = true, 4, 2 }, ""},
		{"fail/concurrency-zero", func(c *Config) { c.Concurrency = 0 }, "concurrency"},
		{"fail/concurrency-huge", func(c *Config) { c.Concurrency = MaxConcurrency + 1 }, "concurrency"},
		{"fail/duration-zero", func(c *Config) { c.Duration = 0 }, "duration"},
		{"fail/duration-unbounded", func(c *Config) { c.Duration = MaxDuration + 1 }, "duration"},
		{"fail/requests-zero", func(c *Config) { c.Requests = 0 }, "requests"},
		{"fail/requests-unbounded", func(c *Config) { c.Requests = MaxRequests + 1 }, "requests"},
		{"fail/warmup-negative", func(c *Config) { c.Warmup = -1 }, "warmup"},
		{"fail/h2-conns-over-workers", func(c *Config) { c.HTTP2, c.H2Conns = true, 2 }, "h2 conns"},
		{"fail/h2-handshake", func(c *Config) { c.HTTP2, c.Handshake = true, true }, "handshake"},
		{"fail/h2c", func(c *Config) { c.HTTP2, c.URL = true, "http://127.0.0.1/" }, "h2c"},
		{"fail/header-injection", func(c *Config) { c.Header = http.Header{"X-A": {"1\r\nX-Evil: 1"}} }, "line break"},
		{"fail/header-name", func(c *Config) { c.Header = http.Header{"X A": {"1"}} }, "header name"},
		{"fail/method", func(c *Config) { c.Method = "GET /x HTTP/1.1\r\n" }, "method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			_, err := c.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one about %q", err, tt.want)
			}
		})
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
