package nodeauth

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"
)

// serialKey is a certificate serial number in fixed width, so revocation
// lookups on the request path neither allocate nor depend on encoding
// details. RFC 5280 caps serials at 20 octets; 32 leaves room.
type serialKey [32]byte

func keyOf(serial *big.Int) (serialKey, bool) {
	var k serialKey
	if serial == nil || serial.Sign() < 0 || serial.BitLen() > len(k)*8 {
		return k, false
	}
	serial.FillBytes(k[:])
	return k, true
}

// revocationList is one loaded CRL.
type revocationList struct {
	path    string
	crl     *x509.RevocationList
	revoked map[serialKey]struct{}

	// The CRL's signature is checked against the issuer of the verified
	// chain the first time it is needed (the registry does not know the
	// trusted CAs; the TLS policy does) and remembered by that issuer's key.
	verifiedBy atomic.Pointer[[]byte] // RawSubjectPublicKeyInfo that verified it
}

func parseCRL(path string, data []byte) (*revocationList, error) {
	der := data
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block is %q, want \"X509 CRL\"", block.Type)
		}
		der = block.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("parsing CRL: %w", err)
	}
	rl := &revocationList{path: path, crl: crl, revoked: make(map[serialKey]struct{}, len(crl.RevokedCertificateEntries))}
	for i, e := range crl.RevokedCertificateEntries {
		k, ok := keyOf(e.SerialNumber)
		if !ok {
			return nil, fmt.Errorf("revoked entry %d: serial number is negative or longer than 32 octets", i)
		}
		rl.revoked[k] = struct{}{}
	}
	return rl, nil
}

// stale reports whether the CRL is past its NextUpdate. A stale CRL still
// applies (its revocations remain facts); the registry warns about it.
func (rl *revocationList) stale(t time.Time) bool {
	return !rl.crl.NextUpdate.IsZero() && t.After(rl.crl.NextUpdate)
}

var errCRLSignature = errors.New("CRL signature does not verify against the certificate's issuer")

// checkSignature verifies the CRL against issuer once per issuer key.
func (rl *revocationList) checkSignature(issuer *x509.Certificate) error {
	if p := rl.verifiedBy.Load(); p != nil && bytes.Equal(*p, issuer.RawSubjectPublicKeyInfo) {
		return nil
	}
	if err := rl.crl.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("%s: %w: %v", rl.path, errCRLSignature, err)
	}
	spki := issuer.RawSubjectPublicKeyInfo
	rl.verifiedBy.Store(&spki)
	return nil
}

// revocationSet is every loaded CRL, indexed by issuer name.
type revocationSet struct {
	byIssuer map[string][]*revocationList // key: raw issuer DER
}

func newRevocationSet(lists []*revocationList) *revocationSet {
	s := &revocationSet{byIssuer: make(map[string][]*revocationList, len(lists))}
	for _, rl := range lists {
		k := string(rl.crl.RawIssuer)
		s.byIssuer[k] = append(s.byIssuer[k], rl)
	}
	return s
}

// revoked reports whether leaf is revoked by a CRL of its issuer. issuer is
// the next certificate of the verified chain; without one the CRL cannot be
// authenticated and the answer is an error (callers refuse).
func (s *revocationSet) revoked(leaf, issuer *x509.Certificate) (bool, error) {
	lists := s.byIssuer[string(leaf.RawIssuer)]
	if len(lists) == 0 {
		return false, nil
	}
	if issuer == nil {
		return false, errors.New("no issuer certificate in the verified chain to authenticate the CRL")
	}
	k, ok := keyOf(leaf.SerialNumber)
	if !ok {
		return false, errors.New("certificate serial number is negative or longer than 32 octets")
	}
	for _, rl := range lists {
		if err := rl.checkSignature(issuer); err != nil {
			return false, err
		}
		if _, hit := rl.revoked[k]; hit {
			return true, nil
		}
	}
	return false, nil
}
