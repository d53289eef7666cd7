package nodeauth

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/crgate/crgate/internal/certfp"
)

// With node_registry's ca set, the registry verifies client certificate
// chains itself, and only for registered certificates, instead of leaving
// it to crypto/tls (client_auth mode require_and_verify), which builds and
// checks the whole chain on every handshake, registered or not. A node
// presents the same certificate handshake after handshake, so the
// registry verifies it once per generation and remembers the verified
// chain in a slot of its own:
//
//   - one slot per registered certificate (keyed by the SHA-256 of the
//     leaf's DER, the fingerprint the clients file lists), made when the
//     generation is loaded: the cache cannot hold more than the clients
//     file registers, and an unregistered certificate never reaches it;
//   - a new generation (any change of the clients file, a CRL or the CA
//     file) starts with empty slots;
//   - what is not a property of the bytes is checked again at every use:
//     the validity period of every certificate in the cached chain (an
//     expired certificate is refused even when cached), the node's status
//     and the CRLs;
//   - failures are not cached: the next handshake verifies again.

// verifiedChain is a registered certificate's chain as the registry
// verified it: chain[0] is the leaf (the presented bytes, parsed), the
// last element a certificate of the ca file.
type verifiedChain struct {
	chain []*x509.Certificate
}

// chainSlots is a generation's verification cache.
type chainSlots map[certfp.Fingerprint]*atomic.Pointer[verifiedChain]

func newChainSlots(nodes *nodeTable) chainSlots {
	s := make(chainSlots, len(nodes.byFingerprint))
	for fp := range nodes.byFingerprint {
		s[fp] = new(atomic.Pointer[verifiedChain])
	}
	return s
}

// parseCAFile reads the trusted CA certificates (PEM) of ca_file.
func parseCAFile(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is %q, want \"CERTIFICATE\"", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return pool, nil
}

// verifiedLeaf returns the verified chain of a registered certificate,
// from the generation's cache or by verifying the presented certificates
// (parsed by parse, which is only called on a cache miss) against the ca
// file. The caller has checked that fp is registered.
func (st *registryState) verifiedLeaf(fp certfp.Fingerprint, parse func() ([]*x509.Certificate, error), t time.Time) ([]*x509.Certificate, string, string) {
	slot := st.chains[fp]
	if slot == nil { // not registered: the caller refused already
		return nil, reasonUnregistered, "certificate " + fp.String() + " is not registered"
	}
	if v := slot.Load(); v != nil {
		return v.chain, "", ""
	}
	certs, err := parse()
	if err != nil {
		return nil, reasonInvalidCertificate, "parsing the presented certificates: " + err.Error()
	}
	opts := x509.VerifyOptions{
		Roots:       st.roots,
		CurrentTime: t,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return nil, chainReason(err), "certificate " + fp.String() + ": " + err.Error()
	}
	slot.Store(&verifiedChain{chain: chains[0]})
	return chains[0], "", ""
}

// chainReason labels a chain verification failure as handshake_audit
// labels crypto/tls's own.
func chainReason(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknownCA):
		return reasonUnknownCA
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return reasonExpired
	case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage:
		return reasonWrongKeyUsage
	default:
		return reasonInvalidCertificate
	}
}

// chainValidAt checks the validity period of every certificate of a
// cached chain above the leaf (the leaf's own is checked with its node):
// verification checked them when it ran, and time has passed since.
func chainValidAt(chain []*x509.Certificate, t time.Time) (string, string) {
	for _, c := range chain[min(1, len(chain)):] {
		if t.Before(c.NotBefore) || t.After(c.NotAfter) {
			return reasonExpired, "issuer certificate " + c.Subject.String() + " is outside its validity period"
		}
	}
	return "", ""
}
