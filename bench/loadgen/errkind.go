package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
)

// statusKind names a response with an unexpected status, e.g. "status_502".
func statusKind(code int) string { return "status_" + strconv.Itoa(code) }

// errKind sorts a failed request into a small fixed set of kinds, so a
// report says "reset 12, tls 3" instead of one line per error string.
func errKind(err error) string {
	var (
		alert    tls.AlertError
		recHdr   tls.RecordHeaderError
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		netErr   net.Error
		opErr    *net.OpError
		errnoErr syscall.Errno
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &alert), errors.As(err, &recHdr), errors.As(err, &certErr),
		errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid),
		// An alert the server sent ("remote error: tls: certificate
		// required") arrives as a net.OpError around an unexported type.
		errors.As(err, &opErr) && opErr.Op == "remote error":
		return "tls"
	case errors.Is(err, ErrNotLoopback):
		return "not_loopback"
	case errors.Is(err, errProtocol):
		return "protocol"
	case errors.As(err, &errnoErr) && errnoErr == syscall.ECONNREFUSED:
		return "refused"
	case errors.As(err, &errnoErr) && (errnoErr == syscall.ECONNRESET || errnoErr == syscall.EPIPE):
		return "reset"
	case errors.As(err, &errnoErr) && (errnoErr == syscall.EADDRNOTAVAIL || errnoErr == syscall.EMFILE || errnoErr == syscall.ENFILE):
		return "local_resources"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "dial"
	}
	return "other"
}
