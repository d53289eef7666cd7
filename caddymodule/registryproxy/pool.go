package registryproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// bufSize is each upstream connection's read and write buffer: a FHIR
// request head and a search response head fit in one.
const bufSize = 4 << 10

// maxResponseHead bounds the upstream's status line and headers, as
// net/http's client does (its default is 10 MB; a FHIR response head is
// well under a kilobyte).
const maxResponseHead = 1 << 20

// upstreamConn is one keep-alive connection to the upstream with its
// buffers, which live as long as it does.
type upstreamConn struct {
	nc        net.Conn
	lr        limitedReader
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	probe     prober
	body      upstreamBody // the response being relayed
}

func newUpstreamConn(nc net.Conn) *upstreamConn {
	c := &upstreamConn{nc: nc, lr: limitedReader{r: nc, n: maxResponseHead}}
	c.br = bufio.NewReaderSize(&c.lr, bufSize)
	c.bw = bufio.NewWriterSize(nc, bufSize)
	c.probe.init(nc)
	return c
}

// reusable reports whether an idle connection can carry another request:
// nothing unread in its buffer and nothing waiting on the socket. Bytes
// the upstream sent unasked (a body after a HEAD answer, a second
// response) would otherwise be read as the next request's answer, which
// may be another node's; and a connection the upstream has closed would
// fail the request it carries.
func (c *upstreamConn) reusable() bool {
	return c.br.Buffered() == 0 && c.probe.quiet()
}

// limitedReader bounds what the response parser may read: n is set to
// maxResponseHead before a response head and lifted after it.
type limitedReader struct {
	r io.Reader
	n int64
}

var errHeadTooLarge = errors.New("response head larger than 1 MiB")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func (c *upstreamConn) close() { _ = c.nc.Close() }

// pool keeps idle upstream connections, most recently used on top: the
// busiest connections stay warm and the ones at the bottom age out.
type pool struct {
	addr        string
	dialer      net.Dialer
	maxIdle     int
	idleTimeout time.Duration

	mu     sync.Mutex
	idle   []*upstreamConn
	closed bool
	stop   chan struct{}
}

func newPool(addr string, maxIdle int, idleTimeout, dialTimeout time.Duration) *pool {
	p := &pool{
		addr:        addr,
		dialer:      net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		maxIdle:     maxIdle,
		idleTimeout: idleTimeout,
		stop:        make(chan struct{}),
	}
	go p.reap()
	return p
}

// get returns an idle connection (reused true) or dials a new one.
func (p *pool) get(ctx context.Context) (c *upstreamConn, reused bool, err error) {
	now := time.Now()
	var stale []*upstreamConn
	p.mu.Lock()
	for len(p.idle) > 0 {
		c = p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(c.idleSince) < p.idleTimeout && c.reusable() {
			break
		}
		stale, c = append(stale, c), nil
	}
	p.mu.Unlock()
	for _, s := range stale {
		s.close()
	}
	if c != nil {
		return c, true, nil
	}
	nc, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, false, err
	}
	dials.Inc()
	return newUpstreamConn(nc), false, nil
}

// put returns a connection whose last exchange ended cleanly.
func (p *pool) put(c *upstreamConn) {
	c.idleSince = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		c.close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// reap closes connections idle past the timeout while no request comes to
// take them, so a quiet gateway holds no half-closed sockets.
func (p *pool) reap() {
	t := time.NewTicker(p.idleTimeout)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			var stale []*upstreamConn
			p.mu.Lock()
			n := 0
			for n < len(p.idle) && now.Sub(p.idle[n].idleSince) >= p.idleTimeout {
				n++
			}
			if n > 0 {
				stale = append(stale, p.idle[:n]...)
				p.idle = append(p.idle[:0], p.idle[n:]...)
			}
			p.mu.Unlock()
			for _, s := range stale {
				s.close()
			}
		}
	}
}

// close closes the idle connections and makes put close the rest.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	close(p.stop)
	for _, c := range idle {
		c.close()
	}
}

// idleCount is for tests and metrics.
func (p *pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}
