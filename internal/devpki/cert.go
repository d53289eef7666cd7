package devpki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"time"
)

// now is the clock; tests replace it.
var now = time.Now

// clockSkew is how far NotBefore is set before "now", so a certificate made
// on a laptop is already valid on a container or VM whose clock lags a bit.
const clockSkew = 5 * time.Minute

// serialLimit is 2^128: serials are random 128-bit positive integers, as
// RFC 5280 and the CA/B Forum rules ask (unpredictable, at most 20 octets).
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

// randomSerial returns a random serial in [1, 2^128).
func randomSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, serialLimit)
		if err != nil {
			return nil, fmt.Errorf("generating serial number: %w", err)
		}
		// Zero is not a positive serial; the chance is 2^-128 but the
		// loop costs nothing.
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// formatSerial renders a serial the way `openssl crl -text` and
// `openssl x509 -serial` print it (upper-case hex, whole bytes), so the value
// printed by `crgate pki revoke` can be found in their output.
func formatSerial(n *big.Int) string {
	return fmt.Sprintf("%X", n.Bytes())
}

// sign creates a certificate from tmpl for pub, signed by parent/parentKey
// (self-signed when parent is nil), and returns it parsed, because callers
// need the fields CreateCertificate fills in (SubjectKeyId, Raw).
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) (*x509.Certificate, error) {
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// readCert reads the first certificate of a PEM file.
func readCert(path string) (*x509.Certificate, error) {
	b, err := readPEM(path, pemCertificate)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate in %s: %w", path, err)
	}
	return cert, nil
}

// ca is a loaded dev CA.
type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// loadCA reads and cross-checks DIR/ca.crt and DIR/ca.key.
func loadCA(l layout) (*ca, error) {
	hint := func(err error) string {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Sprintf(" (run `crgate pki init --dir %s` first)", l.dir)
		}
		return ""
	}
	cert, err := readCert(l.caCert())
	if err != nil {
		return nil, fmt.Errorf("reading CA certificate %s%s: %w", l.caCert(), hint(err), err)
	}
	key, err := readKey(l.caKey())
	if err != nil {
		return nil, fmt.Errorf("reading CA key %s%s: %w", l.caKey(), hint(err), err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("CA certificate %s is not a CA certificate (basic constraints CA:false)", l.caCert())
	}
	// A key that does not belong to the certificate would produce
	// certificates that never verify; better to say so now.
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("CA key %s does not match CA certificate %s", l.caKey(), l.caCert())
	}
	if t := now(); t.After(cert.NotAfter) {
		return nil, fmt.Errorf("CA certificate %s expired on %s (make a new CA with `crgate pki init --dir %s --force`)",
			l.caCert(), cert.NotAfter.UTC().Format(time.DateOnly), l.dir)
	}
	return &ca{cert: cert, key: key}, nil
}

// checkWithinCA refuses a certificate that would outlive its CA: verifiers
// would reject it after the CA expires, which is a confusing way to find out.
func (c *ca) checkWithinCA(notAfter time.Time) error {
	if notAfter.After(c.cert.NotAfter) {
		return fmt.Errorf("certificate would expire on %s, after the CA does (%s); use fewer --days",
			notAfter.UTC().Format(time.DateOnly), c.cert.NotAfter.UTC().Format(time.DateOnly))
	}
	return nil
}
