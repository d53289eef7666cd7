package nodeauth

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Verifier{})
}

// Verifier refuses, during the TLS handshake, a client certificate that is
// not registered, belongs to a disabled node, is revoked, is outside its
// validity or (with node_registry's ca) does not chain to the ca. Caddy
// calls verifiers from VerifyConnection, so it runs on resumed sessions
// too.
//
// Who verifies the chain depends on node_registry:
//   - without a ca, crypto/tls does, and the TLS policy's client_auth mode
//     must be require_and_verify (the verifier refuses a certificate
//     without a verified chain);
//   - with a ca, the registry does (once per registered certificate, then
//     from its cache), and mode require lets crypto/tls skip its own
//     verification of every presented chain.
//
// Either way the client proves it holds the certificate's key: crypto/tls
// checks the client's CertificateVerify signature with the presented
// leaf's public key in every client_auth mode that asks for a certificate
// (Go 1.26: serverHandshakeStateTLS13.readClientCertificate and, for TLS
// 1.2, serverHandshakeState.doFullHandshake call verifyHandshakeSignature
// with c.peerCertificates[0].PublicKey whatever ClientAuth is; a failure
// ends the handshake with decrypt_error). Under TLS 1.3 VerifyConnection
// runs before that check, so the verifier may accept a certificate whose
// key the client then fails to prove: the handshake still fails.
//
// Caddyfile, inside a tls block's client_auth:
//
//	verifier node_registry
type Verifier struct {
	registry *Registry
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Verifier) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.client_auth.verifier.node_registry",
		New: func() caddy.Module { return new(Verifier) },
	}
}

// Provision binds the verifier to the node_registry app.
func (v *Verifier) Provision(ctx caddy.Context) error {
	reg, err := registryApp(ctx)
	if err != nil {
		return err
	}
	v.registry = reg
	v.logger = ctx.Logger()
	return nil
}

// registryApp returns the config's node_registry app, which must be
// configured: a verifier or node_auth without a registry would refuse
// everyone, and that is a configuration mistake to report at start.
func registryApp(ctx caddy.Context) (*Registry, error) {
	appIface, err := ctx.AppIfConfigured("node_registry")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil, errors.New("the node_registry app is not configured: add the global option `node_registry { clients <file> }` (JSON: apps.node_registry.clients_file)")
	}
	if err != nil {
		return nil, fmt.Errorf("loading node_registry app: %w", err)
	}
	reg, ok := appIface.(*Registry)
	if !ok {
		return nil, fmt.Errorf("node_registry app is %T", appIface)
	}
	return reg, nil
}

// VerifyClientCertificate implements caddytls.ClientCertificateVerifier.
func (v *Verifier) VerifyClientCertificate(rawCerts [][]byte, chains [][]*x509.Certificate) error {
	_, _, ref := v.registry.identifyRaw(rawCerts, chains)
	if ref == nil {
		return nil
	}
	if v.registry.isProbe(rawCerts) {
		return ref
	}
	handshakesRefused.WithLabelValues(ref.Reason).Inc()
	if ce := v.logger.Check(zap.DebugLevel, "handshake refused"); ce != nil {
		ce.Write(zap.String("reason", ref.Reason), zap.String("detail", ref.Detail))
	}
	return ref
}

// UnmarshalCaddyfile parses `verifier node_registry`, which takes no
// arguments: the registry is the global node_registry app.
func (v *Verifier) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(d.Nesting()) {
		return d.Errf("verifier node_registry takes no block; configure the global node_registry option")
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner                  = (*Verifier)(nil)
	_ caddytls.ClientCertificateVerifier = (*Verifier)(nil)
	_ caddyfile.Unmarshaler              = (*Verifier)(nil)
)
