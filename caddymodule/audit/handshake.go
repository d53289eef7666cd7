package audit

import (
	"context"

	"crypto/tls"
	"crypto/x509"
	"errors"

	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/certfp"
	"github.com/crgate/crgate/internal/gate"
)

func init() {
	caddy.RegisterModule(HandshakeAudit{})
}

// HandshakeAudit is a listener wrapper that records every failed TLS
// handshake (no certificate, unknown CA, expired, revoked or unregistered
// certificate, wrong key usage, protocol version, …) as a security-alert
// audit event with the peer's address, the SNI, the presented
// certificate's subject and fingerprint, and the reason.
//
// It must come after `tls` in the server's listener_wrappers, which is
// where Caddy puts it when `tls` is not named (Caddy refuses `tls` named
// first, as that is its default place):
//
//	listener_wrappers {
//		handshake_audit
//	}
//
// It completes each accepted connection's handshake itself, in a
// goroutine per connection in flight (reused: handshake_workers.go) under
// a deadline, and hands only handshaken *tls.Conn values (unwrapped:
// net/http type-asserts *tls.Conn for HTTP/2 and r.TLS) to the server,
// whose own Handshake call is then a no-op. A slow or idle client holds
// only its own goroutine.
type HandshakeAudit struct {
	// HandshakeTimeout bounds a client's handshake (default 10s). A client
	// that has not finished by then is recorded (reason handshake_timeout)
	// and disconnected.
	HandshakeTimeout caddy.Duration `json:"handshake_timeout,omitempty"`

	app    *App
	logger *zap.Logger
}

const defaultHandshakeTimeout = 10 * time.Second

// CaddyModule returns the Caddy module information.
func (HandshakeAudit) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.listeners.handshake_audit",
		New: func() caddy.Module { return new(HandshakeAudit) },
	}
}

// Provision binds the wrapper to the audit app, which must be configured.
func (ha *HandshakeAudit) Provision(ctx caddy.Context) error {
	ha.logger = ctx.Logger()
	if ha.HandshakeTimeout == 0 {
		ha.HandshakeTimeout = caddy.Duration(defaultHandshakeTimeout)
	}
	if ha.HandshakeTimeout < 0 {
		return errors.New("handshake_timeout: must be positive")
	}
	app, err := auditApp(ctx)
	if err != nil {
		return err
	}
	ha.app = app
	return nil
}

// WrapListener implements caddy.ListenerWrapper.
func (ha *HandshakeAudit) WrapListener(ln net.Listener) net.Listener {
	l := &handshakeListener{
		Listener: ln,
		ha:       ha,
		ready:    make(chan net.Conn),
		work:     make(chan *tls.Conn),
		closed:   make(chan struct{}),
		pending:  map[net.Conn]struct{}{},
	}
	go l.acceptLoop()
	return l
}

// handshakeListener runs handshakes off Accept.
type handshakeListener struct {
	net.Listener
	ha        *HandshakeAudit
	ready     chan net.Conn
	work      chan *tls.Conn // to a worker waiting for a connection (dispatch)
	closed    chan struct{}
	closeOnce sync.Once
	acceptErr error // set before closed is closed by acceptLoop

	mu      sync.Mutex
	pending map[net.Conn]struct{} // accepted, not yet handed to Accept

	idleWorkers    atomic.Int64 // handshake workers waiting on work
	workersStarted atomic.Int64 // handshake worker goroutines started
}

func (l *handshakeListener) acceptLoop() {
	var tempDelay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() { // temporary: back off as net/http does
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				time.Sleep(tempDelay)
				continue
			}
			l.shutdown(err)
			return
		}
		tempDelay = 0
		tc, ok := c.(*tls.Conn)
		if !ok {
			// Not after `tls` in listener_wrappers: pass through unaudited
			// rather than break the server; Provision-time checks cannot
			// see the order, so say it in the log.
			l.ha.logger.Error("handshake_audit must follow tls in listener_wrappers; connection passed through unaudited")
			l.handOver(c)
			continue
		}
		l.mu.Lock()
		l.pending[tc] = struct{}{}
		l.mu.Unlock()
		l.dispatch(tc)
	}
}

func (l *handshakeListener) handshake(tc *tls.Conn) {
	// A deadline on the conn, not HandshakeContext with a timeout context:
	// crypto/tls watches a cancellable context from a goroutine of its
	// own, one more goroutine, timer and context per connection on the
	// handshake-per-request path.
	err := tc.SetDeadline(time.Now().Add(time.Duration(l.ha.HandshakeTimeout)))
	if err == nil {
		err = tc.Handshake()
	}
	if err == nil {
		// The server sets its own read and write deadlines from here.
		err = tc.SetDeadline(time.Time{})
	}
	if err != nil {
		select {
		case <-l.closed:
			// Cut short by the listener closing (a reload or stop), not
			// refused: nothing to record.
		default:
			l.ha.record(tc, err, errors.Is(err, os.ErrDeadlineExceeded))
		}
		lingerClose(tc)
		l.forget(tc)
		return
	}
	l.handOver(tc)
}

// Bounds of lingerClose: a refused client gets this long, and may send
// this much, before its connection is closed outright.
const (
	refusedDrainTimeout = 500 * time.Millisecond
	refusedDrainBytes   = 64 << 10
)

// lingerClose closes a connection whose handshake was refused so that the
// refusal reaches the client. Under TLS 1.3 a client finishes its side of
// the handshake and sends its request before it reads the server's alert;
// closing a socket with that request still unread makes the kernel send a
// reset, which can destroy the alert in flight, and the client (curl, an
// OpenSSL-based point-of-service system) reports "connection reset"
// instead of "certificate required". So: send FIN after the alert, read
// what the client sent (bounded in time and bytes), then close.
func lingerClose(tc *tls.Conn) {
	raw := tc.NetConn()
	if cw, ok := raw.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil &&
		raw.SetReadDeadline(time.Now().Add(refusedDrainTimeout)) == nil {
		var buf [4096]byte
		for n := 0; n < refusedDrainBytes; {
			m, err := raw.Read(buf[:])
			n += m
			if err != nil {
				break
			}
		}
	}
	_ = tc.Close()
}

// handOver gives a conn to Accept, or closes it when the listener closes.
func (l *handshakeListener) handOver(c net.Conn) {
	select {
	case l.ready <- c:
		l.forget(c)
	case <-l.closed:
		l.forget(c)
		_ = c.Close()
	}
}

func (l *handshakeListener) forget(c net.Conn) {
	l.mu.Lock()
	delete(l.pending, c)
	l.mu.Unlock()
}

// Accept returns the next connection whose handshake succeeded.
func (l *handshakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.closed:
		// Prefer a conn that is ready over reporting the close.
		select {
		case c := <-l.ready:
			return c, nil
		default:
		}
		return nil, l.acceptErr
	}
}

// Close closes the listener and every connection still in its handshake:
// the server never saw them, so its graceful shutdown cannot wait for them.
func (l *handshakeListener) Close() error {
	err := l.Listener.Close()
	l.shutdown(net.ErrClosed)
	l.mu.Lock()
	for c := range l.pending {
		_ = c.Close()
	}
	l.mu.Unlock()
	return err
}

func (l *handshakeListener) shutdown(err error) {
	l.closeOnce.Do(func() {
		l.acceptErr = err
		close(l.closed)
	})
}

// record records a failed handshake.
func (ha *HandshakeAudit) record(tc *tls.Conn, err error, timedOut bool) {
	rec := &auditrec.Record{
		Kind:   auditrec.KindHandshake,
		ID:     newUUID(),
		Time:   now(),
		Status: 0,
	}
	st := tc.ConnectionState()
	certs := st.PeerCertificates
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) && len(cve.UnverifiedCertificates) > 0 {
		certs = cve.UnverifiedCertificates
	}
	setConnFacts(rec, tc.RemoteAddr(), st.ServerName, certs)
	rec.RefusalModule = "tls"
	rec.RefusalReason, rec.RefusalDetail = classifyHandshakeError(err, timedOut)
	var ref *gate.Refusal
	if errors.As(err, &ref) {
		rec.RefusalModule, rec.RefusalReason, rec.RefusalDetail = ref.Module, ref.Reason, ref.Detail
	}
	ha.app.recordAlert(rec)
	if ce := ha.logger.Check(zap.DebugLevel, "handshake failed"); ce != nil {
		ce.Write(zap.String("client_ip", rec.ClientIP), zap.String("reason", rec.RefusalReason), zap.String("detail", rec.RefusalDetail))
	}
}

// setConnFacts records what a connection says about its client: the TCP
// peer, the server name it asked for, and the certificate it presented
// (the first of certs).
func setConnFacts(rec *auditrec.Record, peer net.Addr, serverName string, certs []*x509.Certificate) {
	if addr, ok := peer.(*net.TCPAddr); ok {
		rec.ClientIP, rec.ClientPort = addr.IP.String(), addr.Port
	} else if peer != nil {
		rec.ClientIP = peer.String()
	}
	rec.TLSServerName = serverName
	if len(certs) > 0 {
		rec.CertSubject = certs[0].Subject.String()
		rec.NodeFingerprint = certfp.Of(certs[0].Raw).String()
	}
}

// classifyHandshakeError maps a crypto/tls handshake error to a stable
// reason label and a detail. crypto/tls exposes few typed errors, so some
// are recognised by their (long-stable) messages.
func classifyHandshakeError(err error, timedOut bool) (reason, detail string) {
	detail = err.Error()
	var (
		unknownCA x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostErr   x509.HostnameError
		recHdr    tls.RecordHeaderError
		alert     tls.AlertError
	)
	msg := detail
	switch {
	case timedOut || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT):
		return "handshake_timeout", detail
	case errors.As(err, &unknownCA):
		return "unknown_ca", detail
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.Expired:
			if invalid.Cert != nil && now().Before(invalid.Cert.NotBefore) {
				return "certificate_not_yet_valid", detail
			}
			return "certificate_expired", detail
		case x509.IncompatibleUsage:
			return "wrong_key_usage", detail
		default:
			return "invalid_certificate", detail
		}
	case errors.As(err, &hostErr):
		return "invalid_certificate", detail
	case errors.As(err, &recHdr):
		return "not_tls", detail
	case strings.Contains(msg, "client didn't provide a certificate"), strings.Contains(msg, "certificate required"):
		return "no_client_certificate", detail
	case strings.Contains(msg, "protocol version"), strings.Contains(msg, "unsupported versions"):
		return "protocol_version", detail
	case strings.Contains(msg, "no cipher suite supported"), strings.Contains(msg, "no mutually supported"):
		return "no_shared_cipher", detail
	case strings.Contains(msg, "no application protocol"):
		return "no_application_protocol", detail
	case errors.As(err, &alert):
		return "client_alert", detail
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return "client_aborted", detail
	default:
		return "handshake_failed", detail
	}
}

// UnmarshalCaddyfile parses the wrapper in listener_wrappers:
//
//	handshake_audit {
//		timeout <duration>
//	}
func (ha *HandshakeAudit) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "timeout":
			if ha.HandshakeTimeout != 0 {
				return d.Err("timeout: given twice")
			}
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur <= 0 {
				return d.Errf("timeout: want a positive duration, got %q", d.Val())
			}
			ha.HandshakeTimeout = caddy.Duration(dur)
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized subdirective %q", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*HandshakeAudit)(nil)
	_ caddy.ListenerWrapper = (*HandshakeAudit)(nil)
	_ caddyfile.Unmarshaler = (*HandshakeAudit)(nil)
)
