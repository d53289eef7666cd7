package loadgen

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"
)

// h2Client is one HTTP/2 connection's client: its own transport, so the
// workers sharing it multiplex their streams over one connection.
func (r *runner) h2Client() *http.Client {
	t := &http.Transport{
		DialContext:         r.dial,
		TLSClientConfig:     r.tls,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
		TLSHandshakeTimeout: 10 * time.Second,
		Protocols:           new(http.Protocols),
	}
	t.Protocols.SetHTTP2(true)
	return &http.Client{
		Transport: t,
		Timeout:   r.cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// h2Doer is a worker's stream on a shared HTTP/2 connection.
type h2Doer struct {
	r      *runner
	client *http.Client
	header http.Header
	buf    []byte
}

func (d *h2Doer) do(ctx context.Context) (n int64, kind string) {
	req := (&http.Request{
		Method:     d.r.cfg.Method,
		URL:        d.r.url,
		Host:       d.r.url.Host,
		Header:     d.header,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
	}).WithContext(ctx)
	if body := d.r.cfg.Body; body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, errKind(err)
	}
	n, err = io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, d.buf)
	resp.Body.Close()
	if err != nil {
		return n, errKind(err)
	}
	if resp.StatusCode != d.r.cfg.Expect {
		return n, statusKind(resp.StatusCode)
	}
	return n, ""
}

func (d *h2Doer) close() { d.client.CloseIdleConnections() }
