package registryproxy

import (
	"bufio"
	"context"
	"net"
	"sync"
	"time"
)

// bufSize is each upstream connection's read and write buffer: a FHIR
// request head and a search response head fit in one.
const bufSize = 4 << 10

// upstreamConn is one keep-alive connection to the upstream with its
// buffers, which live as long as it does.
type upstreamConn struct {
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
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
		if now.Sub(c.idleSince) < p.idleTimeout {
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
	return &upstreamConn{nc: nc, br: bufio.NewReaderSize(nc, bufSize), bw: bufio.NewWriterSize(nc, bufSize)}, false, nil
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
