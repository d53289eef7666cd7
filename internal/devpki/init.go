package devpki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
)

// ErrExists is returned (wrapped) when a command would overwrite a key
// without --force.
var ErrExists = errors.New("already exists")

const (
	// CACommonName is the subject CN of the dev CA.
	CACommonName = "crgate dev CA"
	// ServerCommonName is the subject CN of the server certificate. Clients
	// match the SANs, not this; it only makes `openssl x509 -text` readable.
	ServerCommonName = "crgate dev server"

	caYears = 10
	// DefaultServerDays is the server certificate validity: 825 days is
	// the longest that Apple's TLS stack accepts for a server certificate.
	DefaultServerDays = 825
)

// InitOptions are the inputs of Init; the zero value of each field is its
// default.
type InitOptions struct {
	// Dir is the PKI directory; created 0700 if missing. Required.
	Dir string
	// Hosts are added to the server certificate's SANs, after localhost,
	// 127.0.0.1 and ::1. IP literals become IP SANs, others DNS SANs.
	Hosts []string
	// Days is the server certificate validity; 0 means DefaultServerDays.
	Days int
	// KeyType is used for the CA and server keys; "" means DefaultKeyType.
	KeyType KeyType
	// Force overwrites an existing CA. Without it, Init refuses when
	// ca.key exists, and writes nothing.
	Force bool
}

// InitResult says what Init made.
type InitResult struct {
	// Files are the paths written, in the order `crgate pki init` prints
	// them.
	Files  []string
	CA     *x509.Certificate
	Server *x509.Certificate
}

// Init makes a dev CA, a server certificate and an empty CRL in opts.Dir.
func Init(opts InitOptions) (*InitResult, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("no PKI directory given (--dir)")
	}
	// Every input is checked before anything is written, so a bad flag
	// leaves the directory as it was.
	kt, err := ParseKeyType(string(opts.KeyType))
	if err != nil {
		return nil, fmt.Errorf("--key-type: %w", err)
	}
	days := opts.Days
	switch {
	case days == 0:
		days = DefaultServerDays
	case days < 0:
		return nil, fmt.Errorf("--days must be positive, got %d", days)
	}
	dnsNames, ips, err := serverSANs(opts.Hosts)
	if err != nil {
		return nil, err
	}

	l := layout{dir: opts.Dir}
	if !opts.Force {
		found, err := exists(l.caKey())
		if err != nil {
			return nil, err
		}
		if found {
			return nil, fmt.Errorf("refusing to overwrite CA key %s: %w (--force overwrites it and makes a new CA; certificates issued by the old one stop verifying)",
				l.caKey(), ErrExists)
		}
	}
	if err := os.MkdirAll(l.dir, dirMode); err != nil {
		return nil, fmt.Errorf("creating PKI directory %s: %w", l.dir, err)
	}

	c, caKeyPEM, err := newCA(kt)
	if err != nil {
		return nil, err
	}
	server, serverKeyPEM, err := c.newServer(kt, days, dnsNames, ips)
	if err != nil {
		return nil, err
	}
	crlPEM, err := c.makeCRL(big.NewInt(1), nil)
	if err != nil {
		return nil, err
	}

	// ca.key goes last: it is what makes a later Init refuse, so a run cut
	// short before it can simply be repeated without --force.
	if _, err := writeAll([]pendingFile{
		{l.caCert(), encodePEM(pemCertificate, c.cert.Raw), publicMode},
		{l.serverCert(), encodePEM(pemCertificate, server.Raw), publicMode},
		{l.serverKey(), serverKeyPEM, secretMode},
		{l.crl(), crlPEM, publicMode},
		{l.caKey(), caKeyPEM, secretMode},
	}); err != nil {
		return nil, err
	}
	return &InitResult{
		Files:  []string{l.caCert(), l.caKey(), l.serverCert(), l.serverKey(), l.crl()},
		CA:     c.cert,
		Server: server,
	}, nil
}

// newCA makes a self-signed CA that can sign leaf certificates and CRLs but
// no intermediate CAs (MaxPathLen 0).
func newCA(kt KeyType) (*ca, []byte, error) {
	key, err := kt.generate()
	if err != nil {
		return nil, nil, fmt.Errorf("generating CA key: %w", err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	notBefore := now().Add(-clockSkew)
	cert, err := sign(&x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: CACommonName},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(caYears, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing CA certificate: %w", err)
	}
	return &ca{cert: cert, key: key}, keyPEM, nil
}

// newServer makes the gateway's TLS server certificate.
func (c *ca) newServer(kt KeyType, days int, dnsNames []string, ips []net.IP) (*x509.Certificate, []byte, error) {
	key, err := kt.generate()
	if err != nil {
		return nil, nil, fmt.Errorf("generating server key: %w", err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("server key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	t := now()
	notAfter := t.AddDate(0, 0, days)
	if err := c.checkWithinCA(notAfter); err != nil {
		return nil, nil, fmt.Errorf("server certificate: %w", err)
	}
	cert, err := sign(&x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: ServerCommonName},
		NotBefore:             t.Add(-clockSkew),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              keyUsageFor(key),
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}, c.cert, key.Public(), c.key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing server certificate: %w", err)
	}
	return cert, keyPEM, nil
}
