package nodeauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/crgate/crgate/internal/certfp"
	"github.com/crgate/crgate/internal/gate"
)

// newProbe makes the door check's probe: a throw-away self-signed
// certificate nobody registered, presented to a TLS policy's
// VerifyConnection callback as a handshake would present it. The callback
// is what crypto/tls calls on every handshake, full or resumed, after it
// has parsed the client's certificates; under client_auth mode require it
// is the only check of the chain. The probe passes only if the node
// registry's own refusal of exactly this certificate comes back, which
// proves the policy's handshakes reach this registry's verifier.
func (r *Registry) newProbe() (func(*tls.Config) error, error) {
	cert, err := probeCertificate()
	if err != nil {
		return nil, fmt.Errorf("making the probe certificate: %w", err)
	}
	raw := cert.Raw
	r.probe.Store(&raw)
	want := certfp.Of(cert.Raw).String()
	return func(cfg *tls.Config) error {
		if cfg.VerifyConnection == nil {
			return errors.New("the policy has no VerifyConnection callback, so no verifier runs")
		}
		err := cfg.VerifyConnection(tls.ConnectionState{
			Version:           tls.VersionTLS13,
			HandshakeComplete: true,
			PeerCertificates:  []*x509.Certificate{cert},
		})
		var ref *gate.Refusal
		switch {
		case err == nil:
			return errors.New("an unregistered certificate of no known CA was accepted")
		case errors.As(err, &ref) && ref.Module == module && ref.Reason == reasonUnregistered && strings.Contains(ref.Detail, want):
			return nil
		default:
			return fmt.Errorf("the probe certificate was refused before the node registry saw it: %v", err)
		}
	}, nil
}

// isProbe reports whether rawCerts is the door check's probe, which the
// verifier refuses without counting it as a refused handshake.
func (r *Registry) isProbe(rawCerts [][]byte) bool {
	p := r.probe.Load()
	return p != nil && len(rawCerts) == 1 && bytes.Equal(rawCerts[0], *p)
}

func probeCertificate() (*x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "crgate door check probe"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
