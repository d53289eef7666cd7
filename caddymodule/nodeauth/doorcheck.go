package nodeauth

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// checkClientAuthDoors refuses any HTTP server where some handshakes must
// present a verified client certificate and others need not. Caddy's
// Caddyfile adapter adds exactly such a catch-all policy beside a site's
// own: a client that sends another server name (or none) then completes
// the handshake without a certificate, and only strict SNI/Host matching
// stands between it and the node-authenticated routes. crgate wants the
// handshake itself refused (and audited), so the server must not have that
// second door.
func checkClientAuthDoors(ctx caddy.Context) error {
	appIface, err := ctx.AppIfConfigured("http")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking TLS client authentication: %w", err)
	}
	app, ok := appIface.(*caddyhttp.App)
	if !ok {
		return fmt.Errorf("checking TLS client authentication: http app is %T", appIface)
	}
	names := make([]string, 0, len(app.Servers))
	for name := range app.Servers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := checkServerDoors(name, app.Servers[name]); err != nil {
			return err
		}
	}
	return nil
}

func checkServerDoors(name string, srv *caddyhttp.Server) error {
	strict := -1
	for i, cp := range srv.TLSConnPolicies {
		if cp.TLSConfig != nil && cp.TLSConfig.ClientAuth == tls.RequireAndVerifyClientCert {
			strict = i
			break
		}
	}
	usesClientAuth := false
	for _, cp := range srv.TLSConnPolicies {
		if cp.TLSConfig != nil && cp.TLSConfig.ClientAuth != tls.NoClientCert {
			usesClientAuth = true
		}
	}
	if !usesClientAuth {
		return nil
	}
	for i, cp := range srv.TLSConnPolicies {
		if cp.TLSConfig != nil && cp.TLSConfig.ClientAuth == tls.RequireAndVerifyClientCert {
			continue
		}
		mode := "none"
		if cp.TLSConfig != nil {
			mode = clientAuthMode(cp.TLSConfig.ClientAuth)
		}
		var also string
		if strict >= 0 {
			also = fmt.Sprintf(", while tls_connection_policies[%d] requires one", strict)
		}
		return fmt.Errorf("http server %q (listen %s): tls_connection_policies[%d] lets a handshake complete without a verified client certificate (client_auth mode: %s)%s; "+
			"a client sending another server name would bypass node authentication. "+
			"Give the mTLS site a host-less address (e.g. https://:443) so its policy is the server's only one, "+
			"use client_auth mode require_and_verify, or move other sites to their own port",
			name, strings.Join(srv.Listen, " "), i, mode, also)
	}
	return nil
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
