package loadgen

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sync"
)

// serverPin verifies the server's certificate chain as crypto/tls would
// (the configured roots, or the system's, and the server name), but once
// per distinct certificate: a handshake presenting exactly the bytes of a
// leaf already verified is not verified again. Chain verification (an
// ECDSA signature check, chain building) was ~12 % of the load
// generator's CPU per handshake, and the load generator, sharing a core
// with the simulator, was what capped the handshake workload. The proxy's
// side of the handshake is unchanged, and crypto/tls still checks the
// server's CertificateVerify signature (its proof of holding the key) on
// every handshake: VerifyConnection only replaces the chain check that
// InsecureSkipVerify turns off.
type serverPin struct {
	roots      *x509.CertPool // nil: the system roots
	serverName string

	mu       sync.Mutex
	verified [][]byte // leaves verified so far (a few: a server rotating)
}

// maxPinned bounds the remembered leaves; past it, every other leaf is
// verified each time.
const maxPinned = 8

// pinned returns cfg with the server's chain verified through a serverPin.
func pinned(cfg *tls.Config) *tls.Config {
	if cfg.InsecureSkipVerify || cfg.VerifyConnection != nil {
		return cfg // the caller decides how the server is checked
	}
	return (&serverPin{roots: cfg.RootCAs, serverName: cfg.ServerName}).apply(cfg)
}

// apply returns a copy of cfg that checks the server through p.
func (p *serverPin) apply(cfg *tls.Config) *tls.Config {
	out := cfg.Clone()
	out.InsecureSkipVerify = true // the chain check moves to VerifyConnection
	out.VerifyConnection = p.verify
	return out
}

func (p *serverPin) known(leaf []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range p.verified {
		if bytes.Equal(v, leaf) {
			return true
		}
	}
	return false
}

// verify is the tls.Config VerifyConnection callback.
func (p *serverPin) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the server sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	if p.known(leaf.Raw) {
		return nil
	}
	opts := x509.VerifyOptions{Roots: p.roots, DNSName: p.serverName, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	p.mu.Lock()
	if len(p.verified) < maxPinned {
		p.verified = append(p.verified, bytes.Clone(leaf.Raw))
	}
	p.mu.Unlock()
	return nil
}
