package registryproxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// seen is a request as the upstream parsed it with net/http's own parser.
type seen struct {
	conn   int32
	method string
	target string
	host   string
	header http.Header
	te     []string
	cl     int64
	body   string
}

// answer writes the upstream's raw response to a request it read.
type answer func(w *bufio.Writer, req *http.Request)

// upstream is a raw HTTP/1.1 server on loopback: it parses what the proxy
// sends with http.ReadRequest and answers with bytes the test chooses, so
// framing on both sides is under the test's control.
type upstream struct {
	t      *testing.T
	ln     net.Listener
	conns  atomic.Int32
	seen   chan seen
	answer answer
	// closeAfter closes each connection after this many exchanges
	// without saying so (0: never), to play the keep-alive race.
	closeAfter int
	// dropSecond closes a connection instead of answering its second
	// request (which is still recorded as seen).
	dropSecond bool
}

func newUpstream(t *testing.T, a answer) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{t: t, ln: ln, seen: make(chan seen, 64), answer: a}
	go u.accept()
	t.Cleanup(func() { ln.Close() })
	return u
}

func (u *upstream) accept() {
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		n := u.conns.Add(1)
		go u.serve(n, c)
	}
}

func (u *upstream) serve(n int32, c net.Conn) {
	defer c.Close()
	br, bw := bufio.NewReader(c), bufio.NewWriter(c)
	for i := 1; ; i++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return // a request that broke off is not a request
		}
		u.seen <- seen{conn: n, method: req.Method, target: req.RequestURI, host: req.Host, header: req.Header,
			te: req.TransferEncoding, cl: req.ContentLength, body: string(body)}
		if u.dropSecond && i == 2 {
			return
		}
		u.answer(bw, req)
		if bw.Flush() != nil || (u.closeAfter > 0 && i >= u.closeAfter) {
			return
		}
	}
}

func (u *upstream) next(t *testing.T) seen {
	t.Helper()
	select {
	case s := <-u.seen:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream received nothing")
		return seen{}
	}
}

func (u *upstream) none(t *testing.T) {
	t.Helper()
	select {
	case s := <-u.seen:
		t.Fatalf("the upstream received %s %s", s.method, s.target)
	default:
	}
}

// ok answers 200 with a small FHIR body.
func ok(w *bufio.Writer, _ *http.Request) {
	w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 25\r\n\r\n{\"resourceType\":\"Bundle\"}")
}

func raw(s string) answer {
	return func(w *bufio.Writer, _ *http.Request) { w.WriteString(s) }
}

// newProxy is a provisioned registry_proxy without a Caddy context.
func newProxy(t *testing.T, addr string, tweak func(*Proxy)) *Proxy {
	t.Helper()
	p := &Proxy{Upstream: addr, logger: zap.NewNop()}
	if tweak != nil {
		tweak(p)
	}
	if err := p.setup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Cleanup() })
	return p
}

// request is an incoming request as Caddy's server hands it on, with
// Caddy's variables (client_ip) in its context.
func request(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, "https://registry.example"+target, body)
	// As the server parses an origin-form request line.
	r.URL.Scheme, r.URL.Host, r.RequestURI = "", "", target
	ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "192.0.2.10"})
	return r.WithContext(ctx)
}

// serve runs the request through p and returns the recorded response and
// the handler's error.
func serve(p *Proxy, r *http.Request) (*httptest.ResponseRecorder, error) {
	w := httptest.NewRecorder()
	err := p.ServeHTTP(w, r, nil)
	return w, err
}

// statusOf is the status Caddy would answer an error with.
func statusOf(err error) int {
	if he, ok := err.(caddyhttp.HandlerError); ok {
		return he.StatusCode
	}
	return 0
}
