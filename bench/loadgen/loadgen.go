// Package loadgen is crgate's benchmark load generator: keep-alive workers
// over HTTP/1.1 or HTTP/2, or a new TCP and TLS connection for every
// request, with a client certificate, against loopback targets only, each
// run bounded by a duration and a request count. Debian's h2load, wrk and
// hey cannot present a client certificate, which every request to crgate
// must.
package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits that keep one run bounded whatever the flags say.
const (
	MaxDuration    = 10 * time.Minute
	MaxRequests    = 10_000_000
	MaxConcurrency = 4096
	// DefaultStreamsPerConn is how many HTTP/2 workers share a connection
	// when H2Conns is not set: 64 workers make 4 connections, the shape of
	// a few point-of-service systems each multiplexing its queries.
	DefaultStreamsPerConn = 16
)

// Config is one run.
type Config struct {
	// URL is the target, http or https, on a loopback address.
	URL string
	// HTTP2 makes the workers speak HTTP/2 (TLS with ALPN h2 only);
	// otherwise HTTP/1.1.
	HTTP2 bool
	// Handshake opens a new TCP and TLS connection for every request
	// (HTTP/1.1, no keep-alive, no session resumption): the handshake-bound
	// workload.
	Handshake bool
	// Concurrency is the number of workers, each with one request in
	// flight at a time.
	Concurrency int
	// H2Conns is how many HTTP/2 connections the workers share; zero means
	// one per DefaultStreamsPerConn workers. Ignored for HTTP/1.1, where
	// each keep-alive worker holds its own connection.
	H2Conns int
	// Method defaults to GET; Body, when set, is sent with every request.
	Method      string
	Body        []byte
	ContentType string
	// Header is added to every request.
	Header http.Header
	// Warmup runs the workload unrecorded before the measured Duration.
	// A worker whose warm-up request outlasts the window still makes one
	// measured request, so the window may run past Duration by about one
	// request's latency (never past Timeout).
	Warmup   time.Duration
	Duration time.Duration
	// Requests ends the measured window early once this many requests
	// have been started in it.
	Requests int64
	// Timeout bounds each request; zero means 10s.
	Timeout time.Duration
	// Expect is the status a request must answer to count as a success;
	// zero means 200.
	Expect int
	// TLS is the client's configuration (certificate, roots) for https
	// targets. ServerName defaults to the URL's host.
	TLS *tls.Config
	// Marks, when set, receives "# measure start" when the measured window
	// opens and "# measure end" when the last measured request finished,
	// so a caller sampling a server's CPU time can bracket the window.
	Marks io.Writer
}

// Result is what a run measured. Latency fields are in milliseconds.
type Result struct {
	URL         string           `json:"url"`
	Proto       string           `json:"proto"`
	Mode        string           `json:"mode"`
	Method      string           `json:"method"`
	Concurrency int              `json:"concurrency"`
	Conns       int              `json:"conns,omitempty"`
	Requests    int64            `json:"requests"`
	OK          int64            `json:"ok"`
	Errors      int64            `json:"errors"`
	ErrorKinds  map[string]int64 `json:"error_kinds,omitempty"`
	ElapsedS    float64          `json:"elapsed_s"`
	RPS         float64          `json:"rps"`
	P50ms       float64          `json:"p50_ms"`
	P90ms       float64          `json:"p90_ms"`
	P99ms       float64          `json:"p99_ms"`
	MaxMs       float64          `json:"max_ms"`
	MeanMs      float64          `json:"mean_ms"`
	Dials       int64            `json:"dials"`
	BytesIn     int64            `json:"bytes_in"`
	Hist        *Histogram       `json:"-"`
}

func (c *Config) validate() (*url.URL, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	switch {
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return nil, fmt.Errorf("concurrency %d: must be 1..%d", c.Concurrency, MaxConcurrency)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return nil, fmt.Errorf("duration %s: must be in (0, %s]", c.Duration, MaxDuration)
	case c.Warmup < 0 || c.Warmup > MaxDuration:
		return nil, fmt.Errorf("warmup %s: must be in [0, %s]", c.Warmup, MaxDuration)
	case c.Requests < 1 || c.Requests > MaxRequests:
		return nil, fmt.Errorf("requests %d: must be 1..%d", c.Requests, MaxRequests)
	case c.H2Conns < 0 || c.H2Conns > c.Concurrency:
		return nil, fmt.Errorf("h2 conns %d: must be 0..concurrency (%d)", c.H2Conns, c.Concurrency)
	case c.HTTP2 && c.Handshake:
		return nil, errors.New("handshake mode is HTTP/1.1 only")
	case c.HTTP2 && u.Scheme != "https":
		return nil, errors.New("HTTP/2 needs an https target (no h2c)")
	case c.Timeout < 0:
		return nil, fmt.Errorf("timeout %s: negative", c.Timeout)
	case strings.ContainsAny(c.Method, " \t\r\n") || strings.ContainsAny(c.ContentType, "\r\n"):
		return nil, errors.New("method or content type with white space or line breaks")
	}
	for name, vs := range c.Header {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			return nil, fmt.Errorf("header name %q", name)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				return nil, fmt.Errorf("header %s: value with a line break", name)
			}
		}
	}
	return u, nil
}

// Run performs one bounded run against a loopback target.
func Run(ctx context.Context, c Config) (*Result, error) {
	u, err := c.validate()
	if err != nil {
		return nil, err
	}
	if err := checkTarget(ctx, u); err != nil {
		return nil, err
	}
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Expect == 0 {
		c.Expect = http.StatusOK
	}
	r := newRunner(c, u)
	defer r.close()
	if err := r.prime(ctx); err != nil {
		return nil, fmt.Errorf("first request: %w", err)
	}
	return r.run(ctx), nil
}

// doer sends one request and reads the whole response; kind is empty on
// success, else the error's kind (see errKind, statusKind).
type doer interface {
	do(ctx context.Context) (n int64, kind string)
	close()
}

type runner struct {
	cfg     Config
	url     *url.URL
	tls     *tls.Config // shared by every connection (pinned: pin.go)
	dialer  *net.Dialer
	doers   []doer         // one per worker
	h2      []*http.Client // the HTTP/2 connections' clients
	dials   atomic.Int64
	started atomic.Int64 // measured requests started
}

func newRunner(c Config, u *url.URL) *runner {
	r := &runner{cfg: c, url: u}
	r.dialer = &net.Dialer{Timeout: 5 * time.Second, KeepAlive: -1, Control: loopbackControl}
	r.tls = &tls.Config{}
	if c.TLS != nil {
		r.tls = c.TLS.Clone()
	}
	if r.tls.ServerName == "" {
		r.tls.ServerName = u.Hostname()
	}
	// No session cache: every new connection is a full handshake with the
	// certificate, as it is for clients of a server that issues no tickets.
	r.tls.ClientSessionCache = nil
	r.tls = pinned(r.tls)
	if !c.HTTP2 {
		// One config for every connection: crypto/tls only reads it.
		r.tls.NextProtos = []string{"http/1.1"}
		req := r.h1Request()
		for range c.Concurrency {
			r.doers = append(r.doers, &h1Doer{r: r, req: req, oneShot: c.Handshake})
		}
		return r
	}
	n := c.H2Conns
	if n == 0 {
		n = (c.Concurrency + DefaultStreamsPerConn - 1) / DefaultStreamsPerConn
	}
	for range n {
		r.h2 = append(r.h2, r.h2Client())
	}
	for i := range c.Concurrency {
		r.doers = append(r.doers, &h2Doer{r: r, client: r.h2[i%n], header: r.header(), buf: make([]byte, 32<<10)})
	}
	return r
}

func (r *runner) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	r.dials.Add(1)
	return r.dialer.DialContext(ctx, network, addr)
}

func (r *runner) close() {
	for _, d := range r.doers {
		d.close()
	}
}

func (r *runner) header() http.Header {
	h := r.cfg.Header.Clone()
	if h == nil {
		h = make(http.Header)
	}
	if r.cfg.ContentType != "" {
		h.Set("Content-Type", r.cfg.ContentType)
	}
	return h
}

// prime sends one request on each HTTP/2 connection before the workers
// start, so each transport holds exactly one connection instead of its
// first workers racing to dial several.
func (r *runner) prime(ctx context.Context) error {
	for i := range r.h2 {
		if _, kind := r.doers[i].do(ctx); kind != "" {
			return errors.New(kind)
		}
	}
	return nil
}

type workerResult struct {
	hist     Histogram
	ok       int64
	bytes    int64
	kinds    map[string]int64
	lastDone time.Time
}

func (r *runner) run(ctx context.Context) *Result {
	c := r.cfg
	begin := time.Now()
	start := begin.Add(c.Warmup)
	end := start.Add(c.Duration)
	ctx, cancel := context.WithDeadline(ctx, end.Add(c.Timeout))
	defer cancel()

	marked := make(chan struct{})
	go func() {
		defer close(marked)
		t := time.NewTimer(time.Until(start))
		defer t.Stop()
		select {
		case <-t.C:
			if c.Marks != nil {
				fmt.Fprintln(c.Marks, "# measure start")
			}
		case <-ctx.Done():
		}
	}()

	results := make([]*workerResult, c.Concurrency)
	var wg sync.WaitGroup
	for i, d := range r.doers {
		wr := &workerResult{kinds: map[string]int64{}}
		results[i] = wr
		wg.Go(func() { r.worker(ctx, d, start, end, wr) })
	}
	wg.Wait()
	if c.Marks != nil {
		<-marked
		fmt.Fprintln(c.Marks, "# measure end")
	}

	res := &Result{
		URL: c.URL, Method: c.Method, Concurrency: c.Concurrency,
		Proto: "h1", Mode: "keepalive", ErrorKinds: map[string]int64{},
		Hist: new(Histogram),
	}
	if c.HTTP2 {
		res.Proto, res.Conns = "h2", len(r.h2)
	}
	if c.Handshake {
		res.Mode = "handshake"
	}
	last := start
	for _, wr := range results {
		res.Hist.Merge(&wr.hist)
		res.OK += wr.ok
		res.BytesIn += wr.bytes
		for k, v := range wr.kinds {
			res.ErrorKinds[k] += v
			res.Errors += v
		}
		if wr.lastDone.After(last) {
			last = wr.lastDone
		}
	}
	res.Requests = res.OK + res.Errors
	res.Dials = r.dials.Load()
	res.ElapsedS = last.Sub(start).Seconds()
	if res.ElapsedS > 0 {
		res.RPS = float64(res.Requests) / res.ElapsedS
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	res.P50ms = ms(res.Hist.Quantile(0.50))
	res.P90ms = ms(res.Hist.Quantile(0.90))
	res.P99ms = ms(res.Hist.Quantile(0.99))
	res.MaxMs = ms(res.Hist.Max())
	res.MeanMs = ms(res.Hist.Mean())
	return res
}

func (r *runner) worker(ctx context.Context, d doer, start, end time.Time, wr *workerResult) {
	measuredAny := false
	defer func() {
		// The run's deadline passed before this worker's first measured
		// request could start: a stall, reported rather than hidden.
		if !measuredAny && ctx.Err() != nil {
			wr.kinds["stalled"]++
		}
	}()
	for ctx.Err() == nil {
		t0 := time.Now()
		// A worker still in its first (warm-up) request when the window
		// closes gets one measured request after it, so a short run of a
		// slow workload reports figures rather than nothing; the window then
		// ends when that request does.
		if !t0.Before(end) && measuredAny {
			return
		}
		measured := !t0.Before(start)
		measuredAny = measuredAny || measured
		if measured && r.started.Add(1) > r.cfg.Requests {
			return
		}
		n, kind := d.do(ctx)
		t1 := time.Now()
		if !measured {
			continue
		}
		wr.hist.Record(t1.Sub(t0))
		wr.lastDone = t1
		wr.bytes += n
		if kind == "" {
			wr.ok++
		} else {
			wr.kinds[kind]++
		}
	}
}
