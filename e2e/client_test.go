package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// tlsConfig is a client's TLS config presenting the named fixture
// certificate ("" presents none) and trusting the dev CA.
func (g *gateway) tlsConfig(t testing.TB, cert string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: fixtures.caPool, ServerName: "localhost"}
	if cert != "" {
		cfg.Certificates = []tls.Certificate{fixtures.cert(t, cert)}
	}
	return cfg
}

type clientOption func(*tls.Config, *http.Transport)

// http1 restricts a client to HTTP/1.1.
func http1(_ *tls.Config, tr *http.Transport) {
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
}

// http2 restricts a client to HTTP/2.
func http2(_ *tls.Config, tr *http.Transport) {
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP2(true)
}

// bothProtocols runs f as a subtest over HTTP/1.1 and over HTTP/2, whose
// headers travel differently (text lines vs HPACK, lower-cased).
func bothProtocols(t *testing.T, f func(t *testing.T, proto clientOption)) {
	t.Run("http1", func(t *testing.T) { f(t, http1) })
	t.Run("http2", func(t *testing.T) { f(t, http2) })
}

// client is an HTTP client that presents cert and dials the gateway
// whatever the URL's host.
func (g *gateway) client(t testing.TB, cert string, opts ...clientOption) *http.Client {
	t.Helper()
	cfg := g.tlsConfig(t, cert)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:   cfg,
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", g.addr())
		},
	}
	for _, o := range opts {
		o(cfg, tr)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

// get performs a request and returns the status and body, or the error.
func get(c *http.Client, url string, header http.Header) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// handshakeOutcome dials the gateway with cfg and returns how the server
// judged the handshake: nil if it accepted the client. Under TLS 1.3 the
// client's side of the handshake completes before the server checks the
// client certificate, so the verdict arrives as an alert on the first read.
func (g *gateway) handshakeOutcome(cfg *tls.Config) error {
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", g.addr(), cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	var b [1]byte
	_, err = conn.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil // no alert: the server kept the connection open for a request
	}
	return err
}
