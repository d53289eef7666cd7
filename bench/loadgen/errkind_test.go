package loadgen

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestErrKind(t *testing.T) {
	dial := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"ok/deadline", fmt.Errorf("Get: %w", context.DeadlineExceeded), "timeout"},
		{"ok/io-deadline", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, "timeout"},
		{"ok/canceled", context.Canceled, "canceled"},
		{"ok/refused", dial(syscall.ECONNREFUSED), "refused"},
		{"ok/reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "reset"},
		{"ok/pipe", &net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}, "reset"},
		{"ok/ports", dial(syscall.EADDRNOTAVAIL), "local_resources"},
		{"ok/other-dial", dial(syscall.EHOSTUNREACH), "dial"},
		{"ok/eof", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), "eof"},
		{"ok/remote-alert", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}, "tls"},
		{"ok/unknown-ca", x509.UnknownAuthorityError{}, "tls"},
		{"ok/not-loopback", fmt.Errorf("dialing: %w", ErrNotLoopback), "not_loopback"},
		{"ok/other", errors.New("something"), "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errKind(tt.err); got != tt.want {
				t.Errorf("errKind(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
