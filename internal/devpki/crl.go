package devpki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// crlValidity is how long a CRL is current. A gateway that checks
// NextUpdate will start refusing clients 30 days after the last `init` or
// `revoke`; that is long enough not to bother anyone in development.
const crlValidity = 30 * 24 * time.Hour

// oidReasonCode is the CRL entry reasonCode extension; x509 writes it from
// RevocationListEntry.ReasonCode and refuses it in ExtraExtensions.
var oidReasonCode = asn1.ObjectIdentifier{2, 5, 29, 21}

// makeCRL signs a CRL with the given number and entries and returns it as
// "X509 CRL" PEM.
func (c *ca) makeCRL(number *big.Int, entries []x509.RevocationListEntry) ([]byte, error) {
	t := now()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                t,
		NextUpdate:                t.Add(crlValidity),
		RevokedCertificateEntries: entries,
	}, c.cert, c.key)
	if err != nil {
		return nil, fmt.Errorf("signing CRL number %s: %w", number, err)
	}
	return encodePEM(pemCRL, der), nil
}

// readCRL reads the CRL at path and checks that c signed it. A CRL that does
// not verify is refused rather than replaced: rewriting it would silently
// drop whatever it listed.
func (c *ca) readCRL(path string) (*x509.RevocationList, error) {
	b, err := readPEM(path, pemCRL)
	if err != nil {
		return nil, fmt.Errorf("reading CRL %s: %w", path, err)
	}
	crl, err := x509.ParseRevocationList(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing CRL %s: %w", path, err)
	}
	if err := crl.CheckSignatureFrom(c.cert); err != nil {
		return nil, fmt.Errorf("CRL %s was not signed by the CA in %s: %w", path, CACertFile, err)
	}
	return crl, nil
}

// carryOver turns the entries of a parsed CRL into entries for a new one,
// keeping revocation time, reason and any other entry extensions.
func carryOver(parsed []x509.RevocationListEntry) []x509.RevocationListEntry {
	out := make([]x509.RevocationListEntry, 0, len(parsed)+1)
	for _, e := range parsed {
		var extra []pkix.Extension
		for _, ext := range e.Extensions {
			if !ext.Id.Equal(oidReasonCode) {
				extra = append(extra, ext)
			}
		}
		out = append(out, x509.RevocationListEntry{
			SerialNumber:    e.SerialNumber,
			RevocationTime:  e.RevocationTime,
			ReasonCode:      e.ReasonCode,
			ExtraExtensions: extra,
		})
	}
	return out
}
