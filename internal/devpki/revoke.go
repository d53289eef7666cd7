package devpki

import (
	"crypto/x509"
	"fmt"
	"math/big"
)

// RevokeOptions are the inputs of Revoke.
type RevokeOptions struct {
	// Dir is a PKI directory made by Init. Required.
	Dir string
	// Name is the client whose DIR/clients/NAME.crt is revoked. Required.
	Name string
}

// Revocation says what Revoke did.
type Revocation struct {
	Name    string
	Serial  *big.Int
	CRLPath string
	// Number is the CRL Number of the CRL now in CRLPath.
	Number *big.Int
	// Entries is how many certificates that CRL lists.
	Entries int
	// AlreadyRevoked is true when the serial was listed already; the CRL
	// was then left untouched.
	AlreadyRevoked bool
}

// Revoke adds the serial of DIR/clients/NAME.crt to DIR/ca.crl, keeping the
// entries already there, and re-signs the CRL with the next CRL Number.
func Revoke(opts RevokeOptions) (*Revocation, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("no PKI directory given (--dir)")
	}
	if err := ValidateName(opts.Name); err != nil {
		return nil, fmt.Errorf("--name: %w", err)
	}
	l := layout{dir: opts.Dir}
	c, err := loadCA(l)
	if err != nil {
		return nil, err
	}
	certPath := l.clientFile(opts.Name, ".crt")
	cert, err := readCert(certPath)
	if err != nil {
		return nil, fmt.Errorf("reading client certificate %s: %w", certPath, err)
	}
	// A serial from another CA means nothing in this CA's CRL; listing it
	// would look like a revocation while the certificate stays valid
	// wherever its real CA is trusted.
	if err := cert.CheckSignatureFrom(c.cert); err != nil {
		return nil, fmt.Errorf("client certificate %s was not issued by the CA in %s: %w", certPath, l.dir, err)
	}
	old, err := c.readCRL(l.crl())
	if err != nil {
		return nil, err
	}

	out := &Revocation{Name: opts.Name, Serial: cert.SerialNumber, CRLPath: l.crl()}
	for _, e := range old.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			out.AlreadyRevoked = true
			out.Number = old.Number
			out.Entries = len(old.RevokedCertificateEntries)
			return out, nil
		}
	}

	entries := append(carryOver(old.RevokedCertificateEntries), x509.RevocationListEntry{
		SerialNumber:   cert.SerialNumber,
		RevocationTime: now(),
	})
	// A CRL without a number (not one of ours) counts as number 0.
	number := big.NewInt(1)
	if old.Number != nil {
		number.Add(number, old.Number)
	}
	crlPEM, err := c.makeCRL(number, entries)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(l.crl(), crlPEM, publicMode); err != nil {
		return nil, err
	}
	out.Number = number
	out.Entries = len(entries)
	return out, nil
}
