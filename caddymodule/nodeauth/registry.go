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

	"github.com/crgate/crgate/internal/certfp"
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

	state  *atomic.Pointer[registryState]
	logger *zap.Logger
	ctx    caddy.Context
	stamps map[string]fileStamp
	stop   chan struct{}
	done   chan struct{}
}

// registryState is one consistent generation of the registry; requests see
// either the old or the new one, never a mix.
type registryState struct {
	nodes      *nodeTable
	crls       *revocationSet
	generation uint64
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
// authentication, then starts watching the files.
func (r *Registry) Start() error {
	if err := checkClientAuthDoors(r.ctx); err != nil {
		return err
	}
	r.stop = make(chan struct{})
	r.done = make(chan struct{})
	go r.watch()
	return nil
}

// Stop stops watching the files.
func (r *Registry) Stop() error {
	if r.stop != nil {
		close(r.stop)
		<-r.done
		r.stop = nil
	}
	return nil
}

// identify maps a client certificate to its registered node, checking
// status, validity and revocation against the current generation. It is
// the one decision behind both the handshake verifier and node_auth, so a
// disabled or revoked node is refused on new, resumed and already-open
// connections alike.
func (r *Registry) identify(certs []*x509.Certificate, chains [][]*x509.Certificate) (*registeredNode, *published, *gate.Refusal) {
	if len(certs) == 0 {
		return nil, nil, refuse(reasonNoCertificate, "the client presented no certificate")
	}
	if len(chains) == 0 || len(chains[0]) == 0 {
		return nil, nil, refuse(reasonUnverifiedChain, "the certificate chain was not verified; the TLS policy must use client_auth mode require_and_verify")
	}
	leaf := certs[0]
	st := r.state.Load()
	fp := certfp.Of(leaf.Raw)
	rn := st.nodes.byFingerprint[fp]
	if rn == nil {
		return nil, nil, refuse(reasonUnregistered, "certificate "+fp.String()+" is not registered")
	}
	if !rn.active {
		return nil, nil, refuse(reasonDisabled, "node "+rn.node.ID+" is disabled")
	}
	t := now()
	if t.Before(leaf.NotBefore) {
		return nil, nil, refuse(reasonNotYetValid, "certificate of node "+rn.node.ID+" is not valid before "+leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if t.After(leaf.NotAfter) {
		return nil, nil, refuse(reasonExpired, "certificate of node "+rn.node.ID+" expired "+leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	var issuer *x509.Certificate
	if len(chains[0]) > 1 {
		issuer = chains[0][1]
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
