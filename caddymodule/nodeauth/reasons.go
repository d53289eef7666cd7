package nodeauth

import "github.com/crgate/crgate/internal/gate"

// Refusal reasons: a closed set, used as metric labels and audit reasons.
const (
	reasonNoCertificate     = "no_client_certificate"
	reasonUnverifiedChain   = "unverified_chain"
	reasonUnregistered      = "unregistered_certificate"
	reasonDisabled          = "node_disabled"
	reasonExpired           = "certificate_expired"
	reasonNotYetValid       = "certificate_not_yet_valid"
	reasonRevoked           = "certificate_revoked"
	reasonRevocationUnknown = "revocation_unverifiable"
	// The registry's own chain verification (node_registry ca), labelled
	// as handshake_audit labels crypto/tls's.
	reasonUnknownCA          = "unknown_ca"
	reasonWrongKeyUsage      = "wrong_key_usage"
	reasonInvalidCertificate = "invalid_certificate"
)

// module is the name refusals carry.
const module = "node_auth"

func refuse(reason, detail string) *gate.Refusal {
	return &gate.Refusal{Module: module, Reason: reason, Detail: detail}
}
