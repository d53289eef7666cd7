package gate

import "fmt"

// Refusal is why crgate refused a handshake or a request. Guards return it
// inside caddyhttp.HandlerError (and the node verifier from the TLS
// handshake), so the audit handler and the handshake listener can record
// the rule and reason with errors.As, whichever module refused.
type Refusal struct {
	// Module is the module that refused, e.g. "node_auth".
	Module string
	// Reason is a short stable label for metrics and audit records, e.g.
	// "unregistered_certificate". Labels are a closed set per module.
	Reason string
	// Detail is a human-readable explanation; it may name the request's
	// path or the certificate, never a secret.
	Detail string
}

func (r *Refusal) Error() string {
	if r.Detail == "" {
		return fmt.Sprintf("%s: refused: %s", r.Module, r.Reason)
	}
	return fmt.Sprintf("%s: refused: %s: %s", r.Module, r.Reason, r.Detail)
}
