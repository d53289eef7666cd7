package audit

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/crgate/crgate/internal/auditrec"
)

// Requests net/http answers itself never reach a route, so no audit
// handler sees them: a request line or header it cannot parse (400),
// headers over its limit (431), a transfer coding it does not know (501),
// an Expect it does not meet (417), a request cut off mid-head, and
// OPTIONS * (200). net/http still reports them to the server's ConnState
// hook: StateActive once any byte of a request has been read, then
// StateIdle after the answer or StateClosed. An HTTP/1.x request whose
// active period ends without an audit handler having seen it becomes a
// refused-request event (module "http", reason not_routed), with the
// connection's address and certificate, so a node that sends them is on
// the record like any other. HTTP/2 connections are left alone: their
// server reports the connection, not each stream, to the hook (active
// while any stream is open), and resets malformed streams itself; that
// stays a documented limit.

// Refusal labels of a request answered before any route.
const (
	unroutedModule = "http"
	unroutedReason = "not_routed"
	unroutedDetail = "the HTTP server answered this request before any route ran: a request line or header it cannot parse, " +
		"headers over its limit, an unknown transfer coding or expectation, a request cut off mid-head, or OPTIONS *"
)

// connMark is one connection's current HTTP/1.x request.
type connMark struct {
	// active, since and proto are the hook's, which the server calls
	// from the connection's own goroutine, one state at a time.
	active bool
	since  time.Time
	proto  connProto
	// routed is set by an audit handler that saw the request.
	routed atomic.Bool
}

// connProto is what a connection speaks, once its handshake is known.
type connProto uint8

const (
	protoUnknown connProto = iota
	protoHTTP1
	protoHTTP2
)

// protoOf reads it from the TLS handshake, complete by the time the
// server reports the connection active.
func protoOf(c net.Conn) connProto {
	if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
		return protoHTTP2
	}
	return protoHTTP1
}

type connMarkKey struct{}

// markRouted tells the connection's watch that an audit handler has the
// request.
func markRouted(r *http.Request) {
	if m, ok := r.Context().Value(connMarkKey{}).(*connMark); ok {
		m.routed.Store(true)
	}
}

// connWatch follows one server's connections.
type connWatch struct {
	record func(*auditrec.Record) // the app's recordAlert
	conns  sync.Map               // net.Conn → *connMark
}

// serverSet is a set of servers, safe for concurrent use.
type serverSet struct {
	mu sync.Mutex
	m  map[*caddyhttp.Server]bool
}

// add reports whether srv was not in the set yet.
func (s *serverSet) add(srv *caddyhttp.Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[srv] {
		return false
	}
	s.m[srv] = true
	return true
}

// watchServer hooks the server an audit handler is provisioned in, once
// per server; the hooks take effect when the server starts.
func (a *App) watchServer(srv *caddyhttp.Server) {
	if !a.watched.add(srv) {
		return
	}
	w := &connWatch{record: a.recordAlert}
	srv.RegisterConnContext(w.connContext)
	srv.RegisterConnState(w.connState)
}

func (w *connWatch) connContext(ctx context.Context, c net.Conn) context.Context {
	m := new(connMark)
	w.conns.Store(c, m)
	return context.WithValue(ctx, connMarkKey{}, m)
}

func (w *connWatch) connState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateActive:
		if v, ok := w.conns.Load(c); ok {
			m := v.(*connMark)
			if m.proto == protoUnknown {
				m.proto = protoOf(c)
			}
			if m.proto == protoHTTP2 {
				return
			}
			m.active, m.since = true, now()
			m.routed.Store(false)
		}
	case http.StateIdle:
		if v, ok := w.conns.Load(c); ok {
			w.settle(c, v.(*connMark))
		}
	case http.StateClosed, http.StateHijacked:
		if v, ok := w.conns.LoadAndDelete(c); ok {
			w.settle(c, v.(*connMark))
		}
	}
}

// settle ends the connection's active period, recording a request no
// audit handler saw.
func (w *connWatch) settle(c net.Conn, m *connMark) {
	if m.active && !m.routed.Load() {
		w.record(unroutedRecord(c, m.since))
	}
	m.active = false
}

// unroutedRecord describes a request net/http answered itself: who sent
// it, as the connection knows (the TCP peer, the certificate presented).
func unroutedRecord(c net.Conn, since time.Time) *auditrec.Record {
	rec := &auditrec.Record{
		Kind:          auditrec.KindRequest,
		ID:            newUUID(),
		Time:          since,
		Duration:      now().Sub(since),
		Proto:         "HTTP/1.1",
		RefusalModule: unroutedModule,
		RefusalReason: unroutedReason,
		RefusalDetail: unroutedDetail,
	}
	var st tls.ConnectionState
	if tc, ok := c.(*tls.Conn); ok {
		st = tc.ConnectionState()
	}
	setConnFacts(rec, c.RemoteAddr(), st.ServerName, st.PeerCertificates)
	return rec
}
