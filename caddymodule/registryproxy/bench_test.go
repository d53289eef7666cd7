package registryproxy

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the proxy, not a recorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// cannedUpstream answers every bodyless request with the same response
// and allocates nothing per request, so the benchmark's allocations are
// the proxy's.
func cannedUpstream(ln net.Listener) {
	body := `{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"resource":{"resourceType":"Patient","id":"p-0001"}}]}`
	body += strings.Repeat(" ", 1100-len(body))
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nDate: Mon, 23 Nov 2026 12:00:00 GMT\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 {
						break
					}
				}
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}()
	}
}

// BenchmarkServeHTTP is one keep-alive search through registry_proxy to a
// loopback upstream: go test -run '^$' -bench ServeHTTP -benchmem ./caddymodule/registryproxy
func BenchmarkServeHTTP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go cannedUpstream(ln)
	p := &Proxy{Upstream: ln.Addr().String()}
	if err := p.setup(); err != nil {
		b.Fatal(err)
	}
	p.logger = zap.NewNop()
	defer p.Cleanup()
	// The context is shaped like the one net/http and Caddy hand a
	// request: cancellable, under a stack of values. A background context
	// would hide what watching it for a client that went away costs.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 8 {
		ctx = context.WithValue(ctx, benchCtxKey(i), i)
	}
	r := request(http.MethodGet, "/fhir/Patient?_id=p-0001", nil).WithContext(ctx)
	r.Header.Set("Accept", "application/fhir+json")
	r.Header.Set("X-Request-Id", "5b0e8b3c-2b7a-4f7e-9a55-0d1f7b8e2c11")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		if err := p.ServeHTTP(w, r, nil); err != nil {
			b.Fatal(err)
		}
	}
}

type benchCtxKey int
