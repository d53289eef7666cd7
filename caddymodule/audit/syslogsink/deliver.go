package syslogsink

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/deadletter"
)

// probeWait is how long the liveness probe waits for the collector to have
// closed the connection. A collector never sends application data, so a
// read that times out means "still open"; one that returns EOF or an error
// means the connection is gone.
const probeWait = 5 * time.Millisecond

// connectProbeWait is the first probe's wait on a new connection: with TLS
// 1.3 a collector refuses the client certificate only after the client's
// handshake is done, by closing; waiting for that once per connection
// keeps messages from being written into a connection already refused.
const connectProbeWait = 200 * time.Millisecond

// now is the sink's clock; tests replace it.
var now = time.Now

// conn is one TLS connection to the collector.
type conn struct {
	tls *tls.Conn
	w   *bufio.Writer
}

// Deliver implements auditsink.Sink. TCP syslog has no application-level
// acknowledgement: an event counts as delivered once its message is
// written and flushed to a connection that is still open after the flush.
// The connection is probed before a batch (a collector that restarted
// while the connection was idle is noticed before anything is written into
// it) and after (a collector that closed during the batch makes the whole
// unconfirmed part count as undelivered, to be sent again). What remains
// unprotected is a collector that dies after the data reached its socket
// but before it stored it: see docs/audit_sinks.md.
func (s *Sink) Deliver(ctx context.Context, events []auditsink.Event) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.connection(ctx)
	if err != nil {
		return 0, err
	}
	// Stopping the app must not wait for a write to a collector that does
	// not read: ending ctx expires the connection's deadlines at once.
	stop := context.AfterFunc(ctx, func() { _ = c.tls.SetDeadline(expired) })
	defer stop()
	done := 0    // events confirmed (flushed on a live connection) or dead-lettered
	pending := 0 // events written since the last confirmation
	var frame []byte
	for _, ev := range events {
		if err := ctx.Err(); err != nil {
			break
		}
		frame = s.frame(frame[:0], ev)
		if msgLen(frame) > s.MaxMessageSize {
			// Confirm what precedes it, so the order of the sent messages
			// and the cursor stay right, then set the event aside.
			if err := s.confirm(ctx, c); err != nil {
				return done, err
			}
			messagesTotal.Add(float64(pending))
			done += pending
			pending = 0
			if err := s.deadLetter(ev, msgLen(frame)); err != nil {
				return done, err
			}
			done++
			continue
		}
		if err := s.armWrite(ctx, c); err != nil {
			return done, err
		}
		if _, err := c.w.Write(frame); err != nil {
			s.lost(err)
			return done, fmt.Errorf("syslog sink: writing to %s: %w", s.Address, err)
		}
		pending++
	}
	if err := s.confirm(ctx, c); err != nil {
		return done, err
	}
	messagesTotal.Add(float64(pending))
	done += pending
	if done < len(events) {
		return done, ctx.Err()
	}
	return done, nil
}

// confirm flushes the buffered messages and probes the connection; on any
// failure the connection is dropped and the unconfirmed messages are to be
// sent again.
func (s *Sink) confirm(ctx context.Context, c *conn) error {
	if c.w.Buffered() > 0 {
		if err := s.armWrite(ctx, c); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			s.lost(err)
			return fmt.Errorf("syslog sink: writing to %s: %w", s.Address, err)
		}
	}
	if err := probe(c.tls, probeWait); err != nil {
		s.lost(err)
		return fmt.Errorf("syslog sink: the collector %s closed the connection during a batch; its messages will be sent again: %w", s.Address, err)
	}
	return nil
}

// armWrite sets the write deadline for the next write, unless ctx has
// ended: then the deadline stays expired (the AfterFunc in Deliver may have
// run before this call and its expiry must not be undone).
func (s *Sink) armWrite(ctx context.Context, c *conn) error {
	if err := c.tls.SetWriteDeadline(now().Add(time.Duration(s.WriteTimeout))); err != nil {
		s.lost(err)
		return fmt.Errorf("syslog sink: %w", err)
	}
	if err := ctx.Err(); err != nil {
		// Stopping: a half-written frame leaves the connection unusable.
		s.drop()
		return fmt.Errorf("syslog sink: stopped: %w", err)
	}
	return nil
}

// expired is a deadline in the past.
var expired = time.Unix(1, 0)

// frame appends the octet-counted frame of ev's message: "LEN SP MSG",
// LEN the message's length in octets (RFC 5425 §4.3).
func (s *Sink) frame(dst []byte, ev auditsink.Event) []byte {
	var msg [64]byte
	m := append(msg[:0], s.header...)
	m = appendTimestamp(m, ev)
	size := len(m) + len(s.tail) + len(ev.JSON)
	dst = strconv.AppendInt(dst, int64(size), 10)
	dst = append(dst, ' ')
	dst = append(dst, m...)
	dst = append(dst, s.tail...)
	return append(dst, ev.JSON...)
}

// msgLen is the message length of a frame (without "LEN SP").
func msgLen(frame []byte) int {
	for i, b := range frame {
		if b == ' ' {
			return len(frame) - i - 1
		}
	}
	return len(frame)
}

// appendTimestamp appends the event's time as an RFC 5424 TIMESTAMP: UTC,
// microseconds (the most RFC 5424 allows). A zero time is NILVALUE.
func appendTimestamp(dst []byte, ev auditsink.Event) []byte {
	t := ev.Recorded
	if t.IsZero() && ev.Record != nil {
		t = ev.Record.Time
	}
	if t.IsZero() {
		return append(dst, '-')
	}
	return t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z")
}

// connection returns a live connection, dialling a new one when there is
// none or the old one was closed by the collector.
func (s *Sink) connection(ctx context.Context) (*conn, error) {
	if s.conn != nil {
		err := probe(s.conn.tls, probeWait)
		if err == nil {
			return s.conn, nil
		}
		s.lost(err)
	}
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: time.Duration(s.DialTimeout), KeepAlive: 30 * time.Second},
		Config:    s.tlsConfig,
	}
	dctx, cancel := context.WithTimeout(ctx, time.Duration(s.DialTimeout))
	defer cancel()
	nc, err := d.DialContext(dctx, "tcp", s.Address)
	if err != nil {
		connectsTotal.WithLabelValues("error").Inc()
		return nil, fmt.Errorf("syslog sink: connecting to %s: %w", s.Address, err)
	}
	tc, ok := nc.(*tls.Conn)
	if !ok {
		_ = nc.Close()
		return nil, errors.New("syslog sink: dialer returned a non-TLS connection")
	}
	if err := probe(tc, connectProbeWait); err != nil {
		connectsTotal.WithLabelValues("error").Inc()
		_ = tc.Close()
		return nil, fmt.Errorf("syslog sink: %s closed the connection after the handshake (client certificate refused?): %w", s.Address, err)
	}
	connectsTotal.WithLabelValues("ok").Inc()
	s.conn = &conn{tls: tc, w: bufio.NewWriterSize(tc, 64<<10)}
	s.logger.Debug("connected to the syslog collector", zap.String("address", s.Address),
		zap.Uint16("tls_version", tc.ConnectionState().Version))
	return s.conn, nil
}

// probe reports nil if c is still open: a short read that times out.
// Anything else (EOF, reset, close_notify, unexpected data) means the
// connection cannot be trusted.
func probe(c *tls.Conn, wait time.Duration) error {
	if err := c.SetReadDeadline(now().Add(wait)); err != nil {
		return err
	}
	var b [1]byte
	_, err := c.Read(b[:])
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	switch {
	case err == nil:
		return errors.New("the collector sent data, which syslog collectors never do")
	case errors.As(err, &ne) && ne.Timeout():
		return nil
	default:
		return err
	}
}

// lost drops the connection after err.
func (s *Sink) lost(err error) {
	connLost.Inc()
	s.logger.Warn("syslog connection lost; reconnecting on the next delivery",
		zap.String("address", s.Address), zap.Error(err))
	s.drop()
}

// drop closes the connection, if any.
func (s *Sink) drop() {
	if s.conn == nil {
		return
	}
	_ = s.conn.tls.SetDeadline(now().Add(time.Second))
	_ = s.conn.tls.Close()
	s.conn = nil
}

// deadLetter sets aside an event too large to send, loudly.
func (s *Sink) deadLetter(ev auditsink.Event, size int) error {
	reason := fmt.Sprintf("message of %d octets exceeds max_message_size %d", size, s.MaxMessageSize)
	err := s.dead.Write(deadletter.Entry{
		Time: now().UTC(), Sink: "syslog", Target: s.Address,
		Seq: ev.Seq, ID: ev.ID, Reason: reason, Event: deadletter.Event(ev.JSON),
	})
	if err != nil {
		return fmt.Errorf("syslog sink: event %s too large and not dead-lettered: %w", ev.ID, err)
	}
	deadLettered.WithLabelValues("too_large").Inc()
	s.logger.Error("audit event too large for syslog; written to the dead-letter file",
		zap.Uint64("seq", ev.Seq), zap.String("event_id", ev.ID), zap.Int("size", size),
		zap.Int("max_message_size", s.MaxMessageSize), zap.String("dead_letter", s.dead.Path()))
	return nil
}

// Interface guard
var _ auditsink.Sink = (*Sink)(nil)
