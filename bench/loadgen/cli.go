package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// Usage is the command line of crgate-load.
const Usage = `crgate-load: a load generator for loopback HTTPS servers that require client certificates.

  crgate-load -url https://localhost:9443/fhir/Patient?_id=p-0001 \
      -ca ca.crt -cert node.crt -key node.key [-h2] [-handshake] \
      [-c 64] [-h2-conns N] [-duration 5s] [-warmup 1s] [-requests N] \
      [-method POST -body bundle.json -content-type application/fhir+json] \
      [-header 'Name: value'] [-expect 200] [-timeout 10s] [-marks]

Each run ends after -duration or -requests measured requests, whichever
comes first. Only loopback targets are accepted. One JSON line with the
figures goes to stdout (after the "# measure start/end" lines with -marks);
a human summary goes to stderr.
`

type headerFlag struct{ h http.Header }

func (f *headerFlag) String() string { return "" }
func (f *headerFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want 'Name: value'", v)
	}
	f.h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

// Main is the crgate-load command; it returns the exit status (0 ok, 1 the
// run failed to start, 2 usage).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("crgate-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, Usage); fs.PrintDefaults() }
	var c Config
	var caFile, certFile, keyFile, bodyFile string
	var marks bool
	var cpuProfile string
	hdr := &headerFlag{h: make(http.Header)}
	fs.StringVar(&c.URL, "url", "", "target `URL` (http or https, loopback only)")
	fs.StringVar(&caFile, "ca", "", "`PEM` file of the CA that signed the server certificate")
	fs.StringVar(&certFile, "cert", "", "client certificate `PEM`")
	fs.StringVar(&keyFile, "key", "", "client key `PEM`")
	fs.BoolVar(&c.HTTP2, "h2", false, "HTTP/2 (several streams per connection) instead of HTTP/1.1")
	fs.BoolVar(&c.Handshake, "handshake", false, "a new TCP and TLS connection for every request (HTTP/1.1)")
	fs.IntVar(&c.Concurrency, "c", 1, "concurrent workers, one request in flight each")
	fs.IntVar(&c.H2Conns, "h2-conns", 0, fmt.Sprintf("HTTP/2 connections the workers share (0: one per %d workers)", DefaultStreamsPerConn))
	fs.StringVar(&c.Method, "method", "GET", "request method")
	fs.StringVar(&bodyFile, "body", "", "send this `file` as every request's body")
	fs.StringVar(&c.ContentType, "content-type", "", "Content-Type of the body")
	fs.Var(hdr, "header", "extra request header 'Name: value' (repeatable)")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "measured duration (at most 10m)")
	fs.DurationVar(&c.Warmup, "warmup", 0, "unmeasured warm-up before it")
	fs.Int64Var(&c.Requests, "requests", 1_000_000, "end the measured window after this many requests")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.IntVar(&c.Expect, "expect", 200, "the status that counts as success")
	fs.BoolVar(&marks, "marks", false, `print "# measure start" and "# measure end" on stdout around the measured window`)
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile to this `file` (what a request costs the client)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || c.URL == "" {
		fmt.Fprintf(stderr, "crgate-load: -url is required and there are no arguments (got %q)\n", fs.Args())
		return 2
	}
	if len(hdr.h) > 0 {
		c.Header = hdr.h
	}
	if marks {
		c.Marks = stdout
	}
	var err error
	if c.TLS, err = clientTLS(caFile, certFile, keyFile); err != nil {
		fmt.Fprintln(stderr, "crgate-load:", err)
		return 1
	}
	if bodyFile != "" {
		if c.Body, err = os.ReadFile(bodyFile); err != nil {
			fmt.Fprintln(stderr, "crgate-load:", err)
			return 1
		}
	}
	if cpuProfile != "" {
		stop, err := startCPUProfile(cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "crgate-load:", err)
			return 1
		}
		defer stop()
	}
	res, err := Run(ctx, c)
	if err != nil {
		fmt.Fprintln(stderr, "crgate-load:", err)
		return 1
	}
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintln(stderr, "crgate-load:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", line)
	fmt.Fprint(stderr, res.Human())
	return 0
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// clientTLS loads the roots and the client certificate; with neither, the
// system roots and no certificate.
func clientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca %s: no PEM certificate", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("-cert and -key go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Human is the run's summary for people.
func (r *Result) Human() string {
	var b strings.Builder
	mode := r.Mode
	if r.Conns > 0 {
		mode = fmt.Sprintf("%s, %d connections", mode, r.Conns)
	}
	fmt.Fprintf(&b, "%s %s  %s (%s), concurrency %d\n", r.Method, r.URL, r.Proto, mode, r.Concurrency)
	fmt.Fprintf(&b, "  %d requests in %.2fs: %.0f req/s, %d ok, %d errors, %d connections opened, %.1f MB read\n",
		r.Requests, r.ElapsedS, r.RPS, r.OK, r.Errors, r.Dials, float64(r.BytesIn)/1e6)
	fmt.Fprintf(&b, "  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  mean %.3f\n",
		r.P50ms, r.P90ms, r.P99ms, r.MaxMs, r.MeanMs)
	if len(r.ErrorKinds) > 0 {
		kinds := make([]string, 0, len(r.ErrorKinds))
		for k := range r.ErrorKinds {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		b.WriteString("  errors:")
		for _, k := range kinds {
			fmt.Fprintf(&b, " %s %d", k, r.ErrorKinds[k])
		}
		b.WriteByte('\n')
	}
	return b.String()
}
