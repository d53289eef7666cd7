// Command crgate is a Caddy v2 binary with the crgate hardening modules
// compiled in: node authentication, request guards and audit.
package main

import (
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules: TLS, HTTP server, reverse_proxy, metrics…
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/crgate/crgate/caddymodule"
	// `crgate pki …`, the development PKI.
	_ "github.com/crgate/crgate/internal/devpki"
)

func main() {
	raiseProcs()
	caddy.CustomBinaryName = "crgate"
	caddy.CustomLongDescription = `crgate is a hardening gateway for a health client registry (OpenCR, its
HAPI FHIR server and Elasticsearch), built on Caddy v2. It authenticates
point-of-service nodes by client certificate against a registry of nodes,
guards what they may reach, and records every request as an audit event.

Run it with a Caddyfile:

	crgate run --config Caddyfile

Besides Caddy's commands it has:

	crgate pki      a development PKI (dev CA, server and client certificates)
	crgate clients  edits the node registry's clients file

Every 'caddy' command in this help is available as 'crgate'.`
	caddycmd.Main()
}
