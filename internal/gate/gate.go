// Package gate holds the few types crgate's capabilities share, so that none
// of them reaches into another: the node a request comes from (set by
// node_auth, read by fhir_guard and audit) and why something was refused
// (returned by the guards, recorded by audit).
package gate

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/crgate/crgate/internal/certfp"
	"github.com/crgate/crgate/internal/scope"
)

// Node is a registered point-of-service node, as proven by the client
// certificate of the request's connection. It is immutable once published.
type Node struct {
	// ID is the node's registered id (what OpenCR calls the client id).
	ID string
	// Name is the node's human-readable name.
	Name string
	// Scopes is what the node may do.
	Scopes scope.Set
	// ScopeList is Scopes as written in the clients file, for headers and
	// placeholders.
	ScopeList []string
	// Fingerprint is the SHA-256 fingerprint of the certificate presented.
	Fingerprint certfp.Fingerprint
	// FingerprintText is Fingerprint.String(), made once when the node is
	// registered rather than on every request that records it.
	FingerprintText string
}

// nodeVar is the request variable under which node_auth publishes the node.
// Request variables are Caddy's per-request map, which costs no extra
// context allocation.
const nodeVar = "crgate.node"

// SetNode publishes the request's node for the handlers further in.
func SetNode(r *http.Request, n *Node) {
	caddyhttp.SetVar(r.Context(), nodeVar, n)
}

// NodeFrom returns the request's node, if node_auth established one.
func NodeFrom(r *http.Request) (*Node, bool) {
	n, ok := caddyhttp.GetVar(r.Context(), nodeVar).(*Node)
	return n, ok && n != nil
}
