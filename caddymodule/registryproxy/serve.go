package registryproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/gate"
)

// maxPooledHead is the largest request-head buffer put back in the pool.
const maxPooledHead = 64 << 10

// max1xx bounds the informational responses skipped before the final one.
const max1xx = 8

// copyBufs are buffers for relaying a response body to a writer that
// cannot read it itself.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// ServeHTTP forwards the request to the upstream and relays the response.
// It is the end of the route: next is never called.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method == http.MethodConnect || r.Header["Upgrade"] != nil {
		return p.refuse(http.StatusBadRequest, "upgrade_refused", "CONNECT and protocol upgrades are not proxied")
	}
	target := r.URL.RequestURI()
	if r.URL.Scheme != "" || r.URL.Host != "" || r.URL.Opaque != "" || !validTarget(target) {
		return p.refuse(http.StatusBadRequest, "invalid_target", "the request target cannot be forwarded as it is")
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set(upstreamPlaceholder, p.addrValue)
	}

	bp := heads.Get().(*[]byte)
	head, err := appendHead((*bp)[:0], r, target)
	defer func() {
		// A rare huge head (Caddy admits up to 1 MB of headers) is not
		// kept: the pool would hold it for every later request.
		if cap(head) <= maxPooledHead {
			*bp = head[:0]
			heads.Put(bp)
		}
	}()
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}

	c, resp, err := p.roundTrip(r, head)
	if err != nil {
		return err
	}
	return p.relay(w, r, c, resp)
}

// refuse is a request the proxy will not forward.
func (p *Proxy) refuse(status int, reason, detail string) error {
	upstreamErrors.WithLabelValues(reason).Inc()
	return caddyhttp.Error(status, &gate.Refusal{Module: "registry_proxy", Reason: reason, Detail: detail})
}

// roundTrip sends the request and reads the response head. A request that
// can be sent again (idempotent, no body) is retried once on a new
// connection when a reused one turns out to have been closed by the
// upstream before answering.
func (p *Proxy) roundTrip(r *http.Request, head []byte) (*upstreamConn, *http.Response, error) {
	ctx := r.Context()
	for attempt := 0; ; attempt++ {
		c, reused, err := p.pool.get(ctx)
		if err != nil {
			upstreamErrors.WithLabelValues("dial").Inc()
			if ctx.Err() != nil {
				return nil, nil, caddyhttp.Error(499, ctx.Err())
			}
			return nil, nil, caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("registry_proxy: dialling %s: %w", p.addr, err))
		}
		resp, retry, err := p.exchange(c, r, head, reused && attempt == 0)
		if err == nil {
			return c, resp, nil
		}
		c.close()
		if !retry {
			return nil, nil, err
		}
		if ce := p.logger.Check(zap.DebugLevel, "upstream closed a reused connection; retrying on a new one"); ce != nil {
			ce.Write(zap.String("upstream", p.addr))
		}
	}
}

// exchange writes the request on c and reads the final response head.
// retry reports a failure on a reused connection before any answer, for a
// request that may be sent again.
func (p *Proxy) exchange(c *upstreamConn, r *http.Request, head []byte, mayRetry bool) (resp *http.Response, retry bool, err error) {
	deadline := time.Now().Add(time.Duration(p.ResponseHeaderTimeout))
	_ = c.nc.SetDeadline(deadline)
	replayable := mayRetry && !hasBody(r) && idempotent(r.Method)

	if _, err := c.bw.Write(head); err != nil {
		return nil, replayable, p.upstreamErr(r, "write", err)
	}
	if hasBody(r) {
		clientErr, err := writeBody(c, r)
		if clientErr != nil {
			return nil, false, p.clientBodyErr(clientErr)
		}
		if err != nil {
			return nil, false, p.upstreamErr(r, "write", err)
		}
	}
	if err := c.bw.Flush(); err != nil {
		return nil, replayable, p.upstreamErr(r, "write", err)
	}
	c.lr.n = maxResponseHead
	for range max1xx {
		// Before each head: an interim 1xx answer may be followed by a
		// long wait for the final one.
		if err := awaitAnswer(r.Context(), c, deadline); err != nil {
			return nil, replayable && closedBeforeAnswer(err), p.upstreamErr(r, "read_header", err)
		}
		resp, err = http.ReadResponse(c.br, r)
		if err != nil {
			return nil, replayable && c.br.Buffered() == 0 && closedBeforeAnswer(err), p.upstreamErr(r, "read_header", err)
		}
		replayable = false
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, false, p.upstreamErr(r, "bad_response", errors.New("101 Switching Protocols to a request that asked for no upgrade"))
		case resp.StatusCode >= 200:
			if err := r.Context().Err(); err != nil {
				return nil, false, p.upstreamErr(r, "read_header", err)
			}
			_ = c.nc.SetDeadline(time.Time{})
			c.lr.n = math.MaxInt64 // the body is as long as it says
			return resp, false, nil
		}
	}
	return nil, false, p.upstreamErr(r, "bad_response", fmt.Errorf("more than %d informational responses", max1xx))
}

// clientCheckEvery is how often a request waiting for the upstream's
// answer looks whether its client has gone.
const clientCheckEvery = 50 * time.Millisecond

// awaitAnswer waits until the upstream's answer starts (or deadline),
// giving up once ctx ends: the client went away, and the upstream's
// answer has nobody to go to. It looks at ctx every clientCheckEvery
// rather than registering a context.AfterFunc: with the request context
// net/http and Caddy make, that registration and its removal cost ~2.5 %
// of a proxied search's CPU, and nearly every answer comes sooner.
func awaitAnswer(ctx context.Context, c *upstreamConn, deadline time.Time) error {
	if c.br.Buffered() > 0 {
		return nil
	}
	for {
		wake := time.Now().Add(clientCheckEvery)
		last := !wake.Before(deadline)
		if last {
			wake = deadline
		}
		_ = c.nc.SetReadDeadline(wake)
		_, err := c.br.Peek(1)
		if err == nil {
			break
		}
		var ne net.Error
		if last || !errors.As(err, &ne) || !ne.Timeout() {
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
	}
	// The rest of the head has what is left of the timeout.
	_ = c.nc.SetReadDeadline(deadline)
	return nil
}

// relay writes the response to the client. Once its head is out, an error
// can no longer become an error response: a response the upstream breaks
// off is aborted so the client sees it incomplete.
func (p *Proxy) relay(w http.ResponseWriter, r *http.Request, c *upstreamConn, resp *http.Response) error {
	copyResponseHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	if resp.Body == http.NoBody {
		p.release(c, resp)
		return nil
	}
	// The connection carries one exchange at a time, so its own
	// upstreamBody serves, rather than one allocated per response.
	c.body = upstreamBody{r: resp.Body}
	src := &c.body
	// A ResponseWriter that reads from src itself (Go's, Caddy's and
	// audit's do) leaves the buffer unused.
	bp := copyBufs.Get().(*[]byte)
	_, err := io.CopyBuffer(w, src, *bp)
	copyBufs.Put(bp)
	if err == nil && src.err == nil {
		_ = resp.Body.Close()
		c.body = upstreamBody{}
		p.release(c, resp)
		return nil
	}
	c.close()
	_ = resp.Body.Close()
	if src.err != nil {
		upstreamErrors.WithLabelValues("read_body").Inc()
		if ce := p.logger.Check(zap.WarnLevel, "upstream response broke off; aborting the client's response"); ce != nil {
			ce.Write(zap.String("upstream", p.addr), zap.String("uri", r.RequestURI), zap.Error(src.err))
		}
		panic(http.ErrAbortHandler)
	}
	// The client went away: nothing left to tell it.
	if ce := p.logger.Check(zap.DebugLevel, "client gone while relaying the response"); ce != nil {
		ce.Write(zap.String("uri", r.RequestURI), zap.Error(err))
	}
	return nil
}

// release returns c to the pool unless either side asked to close it.
func (p *Proxy) release(c *upstreamConn, resp *http.Response) {
	if resp.Close || c.br.Buffered() > 0 {
		c.close()
		return
	}
	p.pool.put(c)
}

// upstreamBody records the error reading the upstream's body, so a
// failure there is told apart from one writing to the client.
type upstreamBody struct {
	r   io.Reader
	err error
}

func (u *upstreamBody) Read(b []byte) (int, error) {
	n, err := u.r.Read(b)
	if err != nil && err != io.EOF {
		u.err = err
	}
	return n, err
}

func (p *Proxy) upstreamErr(r *http.Request, reason string, err error) error {
	if ctxErr := r.Context().Err(); ctxErr != nil {
		// The client gave up; 499 is Caddy's (and nginx's) status for it.
		upstreamErrors.WithLabelValues("client_gone").Inc()
		return caddyhttp.Error(499, ctxErr)
	}
	upstreamErrors.WithLabelValues(reason).Inc()
	status := http.StatusBadGateway
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		status = http.StatusGatewayTimeout
	}
	return caddyhttp.Error(status, fmt.Errorf("registry_proxy: %s %s: %w", reason, p.addr, err))
}

func (p *Proxy) clientBodyErr(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return p.refuse(http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("the request body exceeds %d bytes", tooBig.Limit))
	}
	return p.refuse(http.StatusBadRequest, "bad_request_body", "reading the request body: "+err.Error())
}

// closedBeforeAnswer reports whether a read error means the upstream had
// closed the connection without answering, the keep-alive race a retry
// fixes.
func closedBeforeAnswer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// idempotent are the methods net/http's transport also replays.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}
