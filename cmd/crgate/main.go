// Command crgate is a Caddy v2 binary with the crgate hardening modules
// compiled in: node authentication, request guards and audit.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules: TLS, HTTP server, reverse_proxy, metrics…
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/crgate/crgate/caddymodule"
	// `crgate pki …`, the development PKI.
	_ "github.com/crgate/crgate/internal/devpki"
)

func main() {
	caddycmd.Main()
}
