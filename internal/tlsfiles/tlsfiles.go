// Package tlsfiles builds the client TLS configuration of crgate's outbound
// audit connections (FHIR server, syslog collector) from certificate files:
// TLS 1.2 or newer, an optional client certificate for mutual TLS, and
// optional private CAs instead of the system roots.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files names the PEM files of one client TLS configuration. The field
// names in errors are the Caddyfile's.
type Files struct {
	// CertFile and KeyFile are the client certificate (chain) and its key,
	// presented for mutual TLS. Both or neither.
	CertFile string
	KeyFile  string
	// CAFile holds the CA certificates the server's chain must lead to.
	// Empty means the system roots.
	CAFile string
	// ServerName is the name the server's certificate must carry. Empty
	// means the host of the address dialled.
	ServerName string
}

// Config returns the client TLS configuration: MinVersion TLS 1.2, full
// chain and name verification (never skipped), the client certificate if
// one is configured.
func (f Files) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	switch {
	case f.CertFile != "" && f.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls_cert/tls_key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case f.CertFile != "":
		return nil, errors.New("tls_key: required with tls_cert")
	case f.KeyFile != "":
		return nil, errors.New("tls_cert: required with tls_key")
	}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca: %s holds no PEM certificate", f.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
