package registryproxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestRequestAsTheUpstreamSeesIt(t *testing.T) {
	u := newUpstream(t, ok)
	p := newProxy(t, u.ln.Addr().String(), nil)

	r := request(http.MethodGet, "/fhir/Patient?identifier=urn:oid:1.2%7Cabc&_count=5", nil)
	r.Header.Set("Accept", "application/fhir+json")
	r.Header.Set("X-Request-Id", "rid-1")
	// What a client must not get through: hop-by-hop headers, headers its
	// Connection header names, forwarding headers it wrote itself, and
	// framing it claims.
	r.Header.Set("Connection", "keep-alive, X-Secret-Hop")
	r.Header.Set("X-Secret-Hop", "1")
	r.Header.Set("Keep-Alive", "timeout=5")
	r.Header.Set("Proxy-Authorization", "Basic Zm9vOmJhcg==")
	r.Header.Set("Te", "trailers")
	r.Header.Set("Trailer", "X-T")
	r.Header.Set("Expect", "100-continue")
	r.Header.Set("Forwarded", "for=10.9.9.9")
	r.Header.Set("X-Forwarded-For", "10.9.9.9")
	r.Header.Set("X-Forwarded-Host", "evil.example")
	r.Header.Set("X-Forwarded-Proto", "http")
	r.Header.Set("X-Real-Ip", "10.9.9.9")
	for _, k := range clientOnly {
		r.Header.Set(k, "spoofed")
	}
	r.Header.Set("Content-Length", "999")
	r.Header.Set("Transfer-Encoding", "chunked")
	r.Header.Set("Host", "other.example")

	w, err := serve(p, r)
	if err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusOK || w.Body.String() != `{"resourceType":"Bundle"}` {
		t.Fatalf("got %d %q", w.Code, w.Body.String())
	}
	s := u.next(t)
	if s.method != "GET" || s.target != "/fhir/Patient?identifier=urn:oid:1.2%7Cabc&_count=5" || s.host != "registry.example" {
		t.Errorf("request line/host: %s %s host %s", s.method, s.target, s.host)
	}
	want := map[string]string{
		"Accept":            "application/fhir+json",
		"X-Request-Id":      "rid-1",
		"X-Forwarded-For":   "192.0.2.10",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "registry.example",
	}
	for k, v := range want {
		if got := s.header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s: got %q, want [%q]", k, got, v)
		}
	}
	for _, k := range []string{"Connection", "X-Secret-Hop", "Keep-Alive", "Proxy-Authorization", "Te", "Trailer",
		"Expect", "Forwarded", "X-Real-Ip", "Content-Length", "Transfer-Encoding"} {
		if v := s.header.Values(k); len(v) > 0 {
			t.Errorf("%s reached the upstream: %q", k, v)
		}
	}
	for _, k := range clientOnly {
		if v := s.header.Values(k); len(v) > 0 {
			t.Errorf("%s reached the upstream: %q", k, v)
		}
	}
	if v := s.header.Values("X-Forwarded-Host"); len(v) != 1 {
		t.Errorf("X-Forwarded-Host at the upstream: %q, want the gateway's only", v)
	}
	if s.cl != 0 || len(s.te) != 0 || s.body != "" {
		t.Errorf("a GET without a body arrived with framing: cl=%d te=%q body=%q", s.cl, s.te, s.body)
	}
}

// clientOnly are headers a client may send but the upstream must never
// see: what servers and frameworks read a client's address, scheme, port,
// path prefix or real URL from, also spelled with '_' for '-'.
var clientOnly = []string{
	"X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Ssl", "X-Forwarded-Scheme",
	"X-Forwarded-Server", "X-Forwarded-By", "X-Forwarded-Uri", "X-Forwarded", "X-Forwarded-Client-Cert",
	"True-Client-Ip", "X-Client-Ip", "Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip",
	"X-Cluster-Client-Ip", "X-Originating-Ip", "X-Original-Url", "X-Original-Uri", "X-Rewrite-Url",
	"X_Forwarded_Host", "X_Forwarded_Prefix", "X_Real_Ip", "Transfer_Encoding", "X_Original_URL",
}

func TestRequestBodies(t *testing.T) {
	const bundle = `{"resourceType":"Bundle","type":"batch","entry":[]}`
	tests := []struct {
		name     string
		method   string
		body     io.Reader
		length   int64 // r.ContentLength
		wantCL   int64
		wantTE   []string
		wantBody string
		wantCL0  bool // a "Content-Length: 0" header
	}{
		{"ok/content-length", http.MethodPost, strings.NewReader(bundle), int64(len(bundle)), int64(len(bundle)), nil, bundle, false},
		{"ok/unknown-length-is-chunked", http.MethodPost, io.MultiReader(strings.NewReader(bundle[:10]), strings.NewReader(bundle[10:])), -1, -1, []string{"chunked"}, bundle, false},
		{"ok/empty-post", http.MethodPost, http.NoBody, 0, 0, nil, "", true},
		{"ok/empty-put", http.MethodPut, http.NoBody, 0, 0, nil, "", true},
		{"ok/delete-no-body", http.MethodDelete, http.NoBody, 0, 0, nil, "", false},
	}
	u := newUpstream(t, ok)
	p := newProxy(t, u.ln.Addr().String(), nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(tt.method, "/fhir", nil)
			r.Body, r.ContentLength = io.NopCloser(tt.body), tt.length
			if tt.body == http.NoBody {
				r.Body = http.NoBody
			}
			w, err := serve(p, r)
			if err != nil || w.Code != http.StatusOK {
				t.Fatalf("got %d, %v", w.Code, err)
			}
			s := u.next(t)
			if s.cl != tt.wantCL || strings.Join(s.te, ",") != strings.Join(tt.wantTE, ",") || s.body != tt.wantBody {
				t.Errorf("upstream got cl=%d te=%q body=%q", s.cl, s.te, s.body)
			}
			if got := s.header.Get("Content-Length") == "0"; got != tt.wantCL0 {
				t.Errorf("Content-Length: 0 sent = %v, want %v", got, tt.wantCL0)
			}
		})
	}
}

func TestResponseRelay(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		answer  string
		status  int
		body    string
		header  map[string]string // "" means absent
		wantErr int
	}{
		{"ok/end-to-end-headers", "GET", "HTTP/1.1 201 Created\r\nLocation: /fhir/Patient/1\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n{}",
			201, "{}", map[string]string{"Location": "/fhir/Patient/1", "X-Hop": "", "Keep-Alive": "", "Connection": ""}, 0},
		{"ok/banners-dropped", "GET", "HTTP/1.1 200 OK\r\nServer: Jetty(9.4.51.v20230217)\r\nX-Powered-By: HAPI FHIR 8.4.0 REST Server\r\nContent-Type: application/fhir+json\r\nContent-Length: 2\r\n\r\n{}",
			200, "{}", map[string]string{"Server": "", "X-Powered-By": "", "Content-Type": "application/fhir+json"}, 0},
		{"ok/chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 200, "{}", map[string]string{"Transfer-Encoding": ""}, 0},
		{"ok/head", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 25\r\n\r\n", 200, "", map[string]string{"Content-Length": "25"}, 0},
		{"ok/no-content", "DELETE", "HTTP/1.1 204 No Content\r\n\r\n", 204, "", nil, 0},
		{"ok/early-hints-skipped", "GET", "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 200, "{}", nil, 0},
		{"fail/switching-protocols", "GET", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 0, "", nil, http.StatusBadGateway},
		{"fail/garbage", "GET", "SSH-2.0-OpenSSH\r\n\r\n", 0, "", nil, http.StatusBadGateway},
		{"fail/two-content-lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x", 0, "", nil, http.StatusBadGateway},
		// RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and an
		// intermediary drops the Content-Length before forwarding.
		{"ok/te-overrides-cl", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 200, "{}", map[string]string{"Content-Length": ""}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, raw(tt.answer))
			p := newProxy(t, u.ln.Addr().String(), nil)
			w, err := serve(p, request(tt.method, "/fhir/Patient/1", nil))
			if tt.wantErr != 0 {
				if statusOf(err) != tt.wantErr {
					t.Fatalf("got %d, %v; want error %d", w.Code, err, tt.wantErr)
				}
				return
			}
			if err != nil || w.Code != tt.status || w.Body.String() != tt.body {
				t.Fatalf("got %d %q, %v; want %d %q", w.Code, w.Body.String(), err, tt.status, tt.body)
			}
			for k, v := range tt.header {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s: got %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestConnectionsAreReused(t *testing.T) {
	u := newUpstream(t, ok)
	p := newProxy(t, u.ln.Addr().String(), nil)
	for i := range 5 {
		if w, err := serve(p, request("GET", "/fhir/Patient/1", nil)); err != nil || w.Code != 200 {
			t.Fatalf("request %d: %d, %v", i, w.Code, err)
		}
		if s := u.next(t); s.conn != 1 {
			t.Fatalf("request %d went out on connection %d", i, s.conn)
		}
	}
	if n := p.pool.idleCount(); n != 1 {
		t.Errorf("idle connections: %d, want 1", n)
	}
}

func TestConnectionCloseIsHonoured(t *testing.T) {
	u := newUpstream(t, raw("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"))
	p := newProxy(t, u.ln.Addr().String(), nil)
	for i := range 2 {
		if _, err := serve(p, request("GET", "/fhir/Patient/1", nil)); err != nil {
			t.Fatal(err)
		}
		if s := u.next(t); s.conn != int32(i+1) {
			t.Errorf("request %d on connection %d, want a new one", i, s.conn)
		}
	}
}

func TestIdleConnectionsExpire(t *testing.T) {
	u := newUpstream(t, ok)
	p := newProxy(t, u.ln.Addr().String(), func(p *Proxy) { p.IdleTimeout = 1 })
	for i := range 2 {
		if _, err := serve(p, request("GET", "/fhir/Patient/1", nil)); err != nil {
			t.Fatal(err)
		}
		if s := u.next(t); s.conn != int32(i+1) {
			t.Errorf("request %d on connection %d: an expired connection was reused", i, s.conn)
		}
		time.Sleep(time.Millisecond)
	}
}

// An idle connection the upstream has closed is noticed before use: the
// next request, whatever its method, goes out on a new connection.
func TestClosedIdleConnectionIsNotReused(t *testing.T) {
	u := newUpstream(t, ok)
	u.closeAfter = 1
	p := newProxy(t, u.ln.Addr().String(), nil)
	for i, r := range []*http.Request{
		request("GET", "/fhir/Patient/1", nil),
		request("POST", "/fhir/Patient", strings.NewReader(`{"resourceType":"Patient"}`)),
		request("GET", "/fhir/Patient/2", nil),
	} {
		if w, err := serve(p, r); err != nil || w.Code != 200 {
			t.Fatalf("request %d: %d, %v", i, w.Code, err)
		}
		if s := u.next(t); s.conn != int32(i+1) {
			t.Errorf("request %d went out on connection %d, want %d", i, s.conn, i+1)
		}
		// Let the upstream's close arrive.
		time.Sleep(50 * time.Millisecond)
	}
}

// The keep-alive race the probe cannot see: the upstream takes a request
// on a reused connection and closes it without answering. A GET is sent
// again on a new connection; a POST, which the upstream may have acted
// on, is not.
func TestDroppedRequestOnReusedConnection(t *testing.T) {
	// setup answers one GET on a connection, whose next request the
	// upstream will drop.
	setup := func(t *testing.T) (*upstream, *Proxy) {
		u := newUpstream(t, ok)
		u.dropSecond = true
		p := newProxy(t, u.ln.Addr().String(), nil)
		if _, err := serve(p, request("GET", "/fhir/Patient/0", nil)); err != nil {
			t.Fatal(err)
		}
		u.next(t)
		return u, p
	}
	t.Run("ok/get-is-sent-again", func(t *testing.T) {
		u, p := setup(t)
		w, err := serve(p, request("GET", "/fhir/Patient/2", nil))
		if err != nil || w.Code != 200 {
			t.Fatalf("GET dropped on a reused connection: %d, %v", w.Code, err)
		}
		if a, b := u.next(t), u.next(t); a.target != "/fhir/Patient/2" || b.target != "/fhir/Patient/2" || a.conn == b.conn {
			t.Errorf("want the GET on the dropped connection and again on a new one; got %s on %d, %s on %d", a.target, a.conn, b.target, b.conn)
		}
	})
	t.Run("fail/post-is-not", func(t *testing.T) {
		u, p := setup(t)
		_, err := serve(p, request("POST", "/fhir/Patient", strings.NewReader(`{"resourceType":"Patient"}`)))
		if statusOf(err) != http.StatusBadGateway {
			t.Fatalf("POST dropped on a reused connection: %v, want 502", err)
		}
		if s := u.next(t); s.method != "POST" {
			t.Fatalf("upstream got %s", s.method)
		}
		time.Sleep(50 * time.Millisecond)
		u.none(t)
	})
}

func TestUpstreamFailures(t *testing.T) {
	t.Run("fail/down", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		p := newProxy(t, addr, nil)
		_, err := serve(p, request("GET", "/fhir/Patient/1", nil))
		if statusOf(err) != http.StatusBadGateway {
			t.Fatalf("got %v, want 502", err)
		}
	})
	// While it waits for an answer the proxy looks every clientCheckEvery
	// whether the client is still there; an answer slower than that, or
	// a head that stalls after its first bytes, must still get through.
	t.Run("ok/answer-slower-than-the-client-checks", func(t *testing.T) {
		u := newUpstream(t, func(w *bufio.Writer, r *http.Request) {
			time.Sleep(3 * clientCheckEvery)
			ok(w, r)
		})
		p := newProxy(t, u.ln.Addr().String(), nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w, err := serve(p, request("GET", "/fhir/Patient/1", nil).WithContext(ctx))
		if err != nil || w.Code != http.StatusOK || w.Body.String() != `{"resourceType":"Bundle"}` {
			t.Fatalf("got %d %q, %v; want the upstream's 200", w.Code, w.Body.String(), err)
		}
		if n := p.pool.idleCount(); n != 1 {
			t.Errorf("idle connections %d, want the connection back in the pool", n)
		}
	})
	t.Run("ok/head-stalls-after-its-first-line", func(t *testing.T) {
		u := newUpstream(t, func(w *bufio.Writer, r *http.Request) {
			w.WriteString("HTTP/1.1 200 OK\r\n")
			w.Flush()
			time.Sleep(3 * clientCheckEvery)
			w.WriteString("Content-Length: 2\r\n\r\n{}")
		})
		p := newProxy(t, u.ln.Addr().String(), nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w, err := serve(p, request("GET", "/fhir/Patient/1", nil).WithContext(ctx))
		if err != nil || w.Code != http.StatusOK || w.Body.String() != "{}" {
			t.Fatalf("got %d %q, %v; want the upstream's 200 (the head has the whole response_header_timeout)", w.Code, w.Body.String(), err)
		}
	})
	t.Run("fail/silent-upstream-times-out", func(t *testing.T) {
		u := newUpstream(t, func(*bufio.Writer, *http.Request) { time.Sleep(2 * time.Second) })
		p := newProxy(t, u.ln.Addr().String(), func(p *Proxy) { p.ResponseHeaderTimeout = caddy.Duration(200 * time.Millisecond) })
		_, err := serve(p, request("GET", "/fhir/Patient/1", nil))
		if statusOf(err) != http.StatusGatewayTimeout {
			t.Fatalf("got %v, want 504", err)
		}
	})
	t.Run("fail/body-breaks-off", func(t *testing.T) {
		u := newUpstream(t, raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"resourceType\""))
		u.closeAfter = 1
		p := newProxy(t, u.ln.Addr().String(), nil)
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Fatalf("recovered %v, want http.ErrAbortHandler (an incomplete answer must not look whole)", v)
			}
		}()
		serve(p, request("GET", "/fhir/Patient/1", nil))
	})
	// The upstream does not answer within the test (or only with an
	// interim 103): the wait must end because the client went away, not
	// at response_header_timeout.
	for _, tc := range []struct {
		name  string
		first string
	}{
		{"fail/client-gone", ""},
		{"fail/client-gone-after-an-interim-answer", "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			u := newUpstream(t, func(w *bufio.Writer, _ *http.Request) {
				w.WriteString(tc.first)
				w.Flush()
				<-release
			})
			defer close(release)
			p := newProxy(t, u.ln.Addr().String(), func(p *Proxy) { p.ResponseHeaderTimeout = caddy.Duration(5 * time.Second) })
			r := request("GET", "/fhir/Patient/1", nil)
			ctx, cancel := context.WithTimeout(r.Context(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := serve(p, r.WithContext(ctx))
			if statusOf(err) != 499 {
				t.Fatalf("got %v, want 499", err)
			}
			if waited := time.Since(start); waited >= 2*time.Second {
				t.Fatalf("waited %v for an upstream whose client was gone after 100ms: the proxy did not notice", waited)
			}
			if n := p.pool.idleCount(); n != 0 {
				t.Errorf("the abandoned connection went back to the pool")
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"fail/connect", func() *http.Request { r := request("GET", "/", nil); r.Method = http.MethodConnect; return r }, 400},
		{"fail/upgrade", func() *http.Request {
			r := request("GET", "/fhir/Patient", nil)
			r.Header.Set("Upgrade", "websocket")
			return r
		}, 400},
		{"fail/control-character-in-query", func() *http.Request {
			r := request("GET", "/fhir/Patient", nil)
			r.URL.RawQuery = "name=a\r\nX-Injected: 1"
			return r
		}, 400},
		{"fail/space-in-query", func() *http.Request {
			r := request("GET", "/fhir/Patient", nil)
			r.URL.RawQuery = "name=a HTTP/1.1"
			return r
		}, 400},
		{"fail/absolute-form", func() *http.Request {
			r := request("GET", "/fhir/Patient", nil)
			r.URL.Scheme, r.URL.Host = "http", "elasticsearch:9200"
			return r
		}, 400},
		{"fail/header-split-by-a-module", func() *http.Request {
			r := request("GET", "/fhir/Patient", nil)
			r.Header["X-Crgate-Node-Name"] = []string{"clinic\r\nX-Admin: 1"}
			return r
		}, 500},
		{"fail/body-too-large", func() *http.Request {
			r := request("POST", "/fhir", strings.NewReader(strings.Repeat("x", 100)))
			r.Body = http.MaxBytesReader(nil, r.Body, 10)
			return r
		}, 413},
		{"fail/body-shorter-than-announced", func() *http.Request {
			r := request("POST", "/fhir", strings.NewReader("short"))
			r.ContentLength = 100
			return r
		}, 400},
	}
	u := newUpstream(t, ok)
	p := newProxy(t, u.ln.Addr().String(), nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := serve(p, tt.req())
			if statusOf(err) != tt.status {
				t.Fatalf("got %v, want %d", err, tt.status)
			}
		})
	}
	// A body that broke off reaches the upstream as a request it cannot
	// finish reading, never as a complete one.
	time.Sleep(50 * time.Millisecond)
	u.none(t)
}

func TestRefusalsAreNotForwarded(t *testing.T) {
	u := newUpstream(t, ok)
	p := newProxy(t, u.ln.Addr().String(), nil)
	r := request("GET", "/fhir/Patient", nil)
	r.URL.RawQuery = "a=\x00"
	if _, err := serve(p, r); statusOf(err) != 400 {
		t.Fatalf("got %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	u.none(t)
	if u.conns.Load() != 0 {
		t.Errorf("a refused request opened an upstream connection")
	}
}

// An upstream that sends bytes nobody asked for (a body after a HEAD
// answer, a stray second response) must not have them read as the next
// request's answer: that answer may go to another node.
func TestUnsolicitedBytesNeverAnswerTheNextRequest(t *testing.T) {
	const stray = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{\"stray\":true}"
	tests := []struct {
		name   string
		method string
		answer string
		late   bool // the stray bytes arrive after the response was relayed
	}{
		{"head-with-a-body", http.MethodHead, "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n" + `{"stray":true}`, false},
		{"second-response-at-once", http.MethodGet, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" + stray, false},
		{"second-response-later", http.MethodGet, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := true
			u := newUpstream(t, func(w *bufio.Writer, req *http.Request) {
				if !first {
					ok(w, req)
					return
				}
				first = false
				w.WriteString(tt.answer)
				if tt.late {
					w.Flush()
					time.Sleep(30 * time.Millisecond)
					w.WriteString(stray)
				}
			})
			p := newProxy(t, u.ln.Addr().String(), nil)
			if _, err := serve(p, request(tt.method, "/fhir/Patient/1", nil)); err != nil {
				t.Fatal(err)
			}
			u.next(t)
			time.Sleep(80 * time.Millisecond)
			w, err := serve(p, request(http.MethodGet, "/fhir/Patient/2", nil))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(w.Body.String(), "stray") {
				t.Fatalf("the next request was answered with the stray bytes: %q", w.Body.String())
			}
			if s := u.next(t); s.conn != 2 {
				t.Errorf("the next request went out on connection %d, want a fresh one", s.conn)
			}
		})
	}
}

func TestResponseHeadIsBounded(t *testing.T) {
	u := newUpstream(t, func(w *bufio.Writer, _ *http.Request) {
		w.WriteString("HTTP/1.1 200 OK\r\n")
		for i := 0; i < (maxResponseHead/100)+10; i++ {
			w.WriteString("X-Filler: " + strings.Repeat("a", 88) + "\r\n")
		}
		w.WriteString("Content-Length: 2\r\n\r\n{}")
	})
	p := newProxy(t, u.ln.Addr().String(), nil)
	if _, err := serve(p, request(http.MethodGet, "/fhir/Patient/1", nil)); statusOf(err) != http.StatusBadGateway {
		t.Fatalf("got %v, want 502 for an endless response head", err)
	}
}
