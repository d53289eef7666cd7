// Package nodeauth authenticates point-of-service nodes (IHE ITI-19): the
// node_registry app holds the registered nodes (clients file, CRLs, hot
// reload), the tls.client_auth.verifier.node_registry verifier refuses
// unregistered certificates in the handshake, and the node_auth handler
// maps every request's certificate to its node and sets the identity the
// upstream sees.
package nodeauth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/gate"
)

func init() {
	caddy.RegisterModule(Registry{})
}

// Registry is the node_registry app: the set of registered point-of-service
// nodes, read from a clients file and optional CRLs and reloaded when they
// change, without a restart and without dropping connections.
type Registry struct {
	// ClientsFile is the path of the clients file (JSON) listing every
	// registered node with its certificate fingerprints, scopes and status.
	// Required: without it no node can be recognised, and crgate refuses
	// to start rather than run open.
	ClientsFile string `json:"clients_file,omitempty"`

	// CRLFiles are certificate revocation lists (PEM or DER). A client
	// certificate listed in a CRL of its issuer is refused, in the handshake
	// and on every request. Each CRL is authenticated against the issuer in
	// the verified chain. Certificates of issuers without a CRL here are not
	// revocation-checked (disable their node instead). Default: none.
	CRLFiles []string `json:"crl_files,omitempty"`

	// ReloadInterval is how often the clients file and CRLs are checked for
	// changes. A changed file that does not validate is rejected with an
	// error log and the last good registry stays in force. Default: 1s.
	ReloadInterval caddy.Duration `json:"reload_interval,omitempty"`

	// CAFile is a PEM file of the CA certificates that issue node
	// certificates. With it, the registry verifies each registered
	// certificate's chain itself (once per certificate and reload, then
	// from a cache; see chain.go), and the TLS policy may use client_auth
	// mode require, which skips crypto/tls's own chain verification on
	// every handshake. Without it (the default), the registry relies on
	// the chain crypto/tls verified, and the policy must use mode
	// require_and_verify; crgate refuses to start otherwise. Reloaded
	// with the clients file.
	CAFile string `json:"ca_file,omitempty"`

	state  *atomic.Pointer[registryState]
	logger *zap.Logger
	ctx    caddy.Context
	stamps map[string]fileStamp
	stop   chan struct{}
	done   chan struct{}
	// unclaim releases the listen ports claimPorts claimed at Start.
	unclaim func()
	// probe is the door check's probe certificate (probe.go), if any.
	probe *atomic.Pointer[[]byte]
}

// registryState is one consistent generation of the registry; requests see
// either the old or the new one, never a mix.
type registryState struct {
	nodes      *nodeTable
	crls       *revocationSet
	generation uint64
	// roots are the ca file's certificates; nil without ca_file, when
	// crypto/tls must have verified the chain (require_and_verify).
	roots *x509.CertPool
	// chains caches verified chains per registered certificate (chain.go).
	chains chainSlots
	// known maps registered certificates' DER to their fingerprints
	// (fingerprints.go).
	known knownDER
}

const defaultReloadInterval = caddy.Duration(time.Second)

// now is the registry's clock; tests replace it.
var now = time.Now

// CaddyModule returns the Caddy module information.
func (Registry) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "node_registry",
		New: func() caddy.Module { return new(Registry) },
	}
}

// Provision loads the clients file and CRLs; any error refuses the config.
func (r *Registry) Provision(ctx caddy.Context) error {
	r.ctx = ctx
	r.logger = ctx.Logger()
	r.state = new(atomic.Pointer[registryState])
	r.probe = new(atomic.Pointer[[]byte])
	if r.ReloadInterval == 0 {
		r.ReloadInterval = defaultReloadInterval
	}
	if r.ClientsFile == "" {
		return errors.New("clients_file: required: the path of the clients file listing the registered nodes")
	}
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	st, stamps, err := r.load(0)
	if err != nil {
		return err
	}
	r.stamps = stamps
	r.state.Store(st)
	r.logLoaded(st, "node registry loaded")
	return nil
}

// Validate checks the configuration's invariants.
func (r *Registry) Validate() error {
	if time.Duration(r.ReloadInterval) < 100*time.Millisecond {
		return fmt.Errorf("reload_interval: %s is below the 100ms minimum", time.Duration(r.ReloadInterval))
	}
	return nil
}

// Start refuses TLS configurations that would let a handshake bypass client
// authentication and listen ports another crgate serves, then starts
// watching the files.
func (r *Registry) Start() error {
	servers, err := httpServers(r.ctx)
	if err != nil {
		return err
	}
	if err := checkClientAuthDoors(servers, r); err != nil {
		return err
	}
	if err := checkGuardedRoutes(servers); err != nil {
		return err
	}
	unclaim, err := claimServerPorts(servers, r.logger)
	if err != nil {
		return err
	}
	r.unclaim = unclaim
	r.stop = make(chan struct{})
	r.done = make(chan struct{})
	go r.watch()
	return nil
}

// Stop stops watching the files and releases the listen ports.
func (r *Registry) Stop() error {
	if r.stop != nil {
		close(r.stop)
		<-r.done
		r.stop = nil
	}
	if r.unclaim != nil {
		r.unclaim()
		r.unclaim = nil
	}
	return nil
}

// identify maps a client certificate to its registered node, checking
// status, validity, chain and revocation against the current generation.
// It is the one decision behind both the handshake verifier and
// node_auth, so a disabled or revoked node is refused on new, resumed and
// already-open connections alike. certs are the presented certificates,
// chains what crypto/tls verified (none under client_auth mode require).
func (r *Registry) identify(certs []*x509.Certificate, chains [][]*x509.Certificate) (*registeredNode, *published, *gate.Refusal) {
	if len(certs) == 0 {
		return nil, nil, refuse(reasonNoCertificate, "the client presented no certificate")
	}
	return r.decide(certs[0].Raw, func() ([]*x509.Certificate, error) { return certs, nil }, chains)
}

// identifyRaw is identify for the handshake verifier, which gets the
// presented certificates as DER: they are parsed only when no verified
// chain is cached for the leaf.
func (r *Registry) identifyRaw(rawCerts [][]byte, chains [][]*x509.Certificate) (*registeredNode, *published, *gate.Refusal) {
	if len(rawCerts) == 0 {
		return nil, nil, refuse(reasonNoCertificate, "the client presented no certificate")
	}
	return r.decide(rawCerts[0], func() ([]*x509.Certificate, error) {
		certs := make([]*x509.Certificate, len(rawCerts))
		for i, der := range rawCerts {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, err
			}
			certs[i] = c
		}
		return certs, nil
	}, chains)
}

// decide is identify's decision for the leaf whose DER is leafRaw.
func (r *Registry) decide(leafRaw []byte, parse func() ([]*x509.Certificate, error), chains [][]*x509.Certificate) (*registeredNode, *published, *gate.Refusal) {
	st := r.state.Load()
	if st.roots == nil && (len(chains) == 0 || len(chains[0]) == 0) {
		return nil, nil, refuse(reasonUnverifiedChain, "the certificate chain was not verified; the TLS policy must use client_auth mode require_and_verify, or node_registry must have a ca to verify it")
	}
	fp, known := st.known.fingerprint(leafRaw)
	rn := st.nodes.byFingerprint[fp]
	if rn == nil {
		return nil, nil, refuse(reasonUnregistered, "certificate "+fp.String()+" is not registered")
	}
	if !known {
		st.known.remember(leafRaw, fp)
	}
	if !rn.active {
		return nil, nil, refuse(reasonDisabled, "node "+rn.node.ID+" is disabled")
	}
	t := now()
	var chain []*x509.Certificate // leaf first
	if st.roots != nil {
		// The registry's own verification against its ca, whatever
		// crypto/tls did: with a ca, it is the one that counts.
		c, reason, detail := st.verifiedLeaf(fp, parse, t)
		if reason == "" {
			reason, detail = chainValidAt(c, t)
		}
		if reason != "" {
			return nil, nil, refuse(reason, "node "+rn.node.ID+": "+detail)
		}
		chain = c
	} else {
		chain = chains[0]
	}
	leaf := chain[0]
	if t.Before(leaf.NotBefore) {
		return nil, nil, refuse(reasonNotYetValid, "certificate of node "+rn.node.ID+" is not valid before "+leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if t.After(leaf.NotAfter) {
		return nil, nil, refuse(reasonExpired, "certificate of node "+rn.node.ID+" expired "+leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	var issuer *x509.Certificate
	if len(chain) > 1 {
		issuer = chain[1]
	}
	revoked, err := st.crls.revoked(leaf, issuer)
	if err != nil {
		return nil, nil, refuse(reasonRevocationUnknown, "node "+rn.node.ID+": "+err.Error())
	}
	if revoked {
		return nil, nil, refuse(reasonRevoked, "certificate of node "+rn.node.ID+" is revoked")
	}
	return rn, rn.byCert[fp], nil
}

// Interface guards
var (
	_ caddy.App         = (*Registry)(nil)
	_ caddy.Provisioner = (*Registry)(nil)
	_ caddy.Validator   = (*Registry)(nil)
)
