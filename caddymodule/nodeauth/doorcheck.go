package nodeauth

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
)

// checkClientAuthDoors refuses any HTTP server where some handshakes must
// present a verified client certificate and others need not. Caddy's
// Caddyfile adapter adds exactly such a catch-all policy beside a site's
// own: a client that sends another server name (or none) then completes
// the handshake without a certificate, and only strict SNI/Host matching
// stands between it and the node-authenticated routes. crgate wants the
// handshake itself refused (and audited), so the server must not have that
// second door.
//
// A policy closes the door with client_auth mode require_and_verify
// (crypto/tls verifies the chain), or with mode require when the registry
// verifies chains itself (node_registry ca) and a probe shows the policy's
// handshakes really reach the node_registry verifier: mode require alone
// accepts any certificate at all.
func checkClientAuthDoors(servers map[string]*caddyhttp.Server, reg *Registry) error {
	var probe func(*tls.Config) error
	if reg.CAFile != "" && len(servers) > 0 {
		var err error
		if probe, err = reg.newProbe(); err != nil {
			return fmt.Errorf("checking TLS client authentication: %w", err)
		}
	}
	for _, name := range serverNames(servers) {
		if err := checkServerDoors(name, servers[name], probe); err != nil {
			return err
		}
	}
	return nil
}

// checkServerDoors checks one server's policies. probe is nil when the
// registry does not verify chains (no ca); otherwise it reports whether a
// policy's handshakes reach the node_registry verifier.
func checkServerDoors(name string, srv *caddyhttp.Server, probe func(*tls.Config) error) error {
	// closed reports whether policy cp lets no handshake complete without
	// a certificate whose chain someone verifies; why says why not.
	closed := func(cp *caddytls.ConnectionPolicy) (ok bool, why string) {
		if cp.TLSConfig == nil {
			return false, "client_auth mode: none"
		}
		switch cp.TLSConfig.ClientAuth {
		case tls.RequireAndVerifyClientCert:
			return true, ""
		case tls.RequireAnyClientCert:
			if probe == nil {
				return false, "client_auth mode: require, which leaves the chain to node_registry, and node_registry has no ca " +
					"(Caddyfile: node_registry { ca <file> }; JSON: apps.node_registry.ca_file)"
			}
			if err := probe(cp.TLSConfig); err != nil {
				return false, "client_auth mode: require, and a probe handshake did not reach the node_registry verifier (" + err.Error() + "); " +
					"add `verifier node_registry` to its client_auth (JSON: client_authentication.verifiers)"
			}
			return true, ""
		default:
			return false, "client_auth mode: " + clientAuthMode(cp.TLSConfig.ClientAuth)
		}
	}
	if !asksForClientCerts(srv) {
		return nil
	}
	strict := -1
	var firstOpen int
	var openWhy string
	for i, cp := range srv.TLSConnPolicies {
		ok, why := closed(cp)
		switch {
		case ok && strict < 0:
			strict = i
		case !ok && openWhy == "":
			firstOpen, openWhy = i, why
		}
	}
	if openWhy == "" {
		return nil
	}
	var also string
	if strict >= 0 {
		also = fmt.Sprintf(", while tls_connection_policies[%d] requires one", strict)
	}
	return fmt.Errorf("http server %q (listen %s): tls_connection_policies[%d] lets a handshake complete without a verified client certificate (%s)%s; "+
		"a client sending another server name would bypass node authentication. "+
		"Give the mTLS site a host-less address (e.g. https://:443) so its policy is the server's only one, "+
		"use client_auth mode require_and_verify (or mode require with node_registry's ca and verifier node_registry), or move other sites to their own port",
		name, strings.Join(srv.Listen, " "), firstOpen, openWhy, also)
}

// asksForClientCerts reports a registry door: a server with a TLS policy
// that asks clients for a certificate.
func asksForClientCerts(srv *caddyhttp.Server) bool {
	for _, cp := range srv.TLSConnPolicies {
		if cp.TLSConfig != nil && cp.TLSConfig.ClientAuth != tls.NoClientCert {
			return true
		}
	}
	return false
}

func clientAuthMode(ca tls.ClientAuthType) string {
	switch ca {
	case tls.NoClientCert:
		return "none"
	case tls.RequestClientCert:
		return "request"
	case tls.RequireAnyClientCert:
		return "require"
	case tls.VerifyClientCertIfGiven:
		return "verify_if_given"
	default:
		return "require_and_verify"
	}
}
