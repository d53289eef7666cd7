package subnet

import "github.com/crgate/crgate/internal/gate"

// Refusal reasons: a closed set, used as metric labels and audit reasons.
const (
	// reasonNoAddress: the request carries no client address (Caddy could
	// not parse the connection's remote address) or one that is not an IP.
	reasonNoAddress = "no_client_address"
	// reasonNotAllowed: the client address is outside every listed range.
	reasonNotAllowed = "address_not_allowed"
	// reasonAmbiguousForwarded: the request came through a trusted proxy,
	// the server picks the leftmost forwarded address (trusted_proxies_strict
	// off) and the chain has several entries, so the address judged could
	// be one the client wrote itself.
	reasonAmbiguousForwarded = "ambiguous_forwarded_address"
	// reasonTooEarly: TLS early data (0-RTT), whose source address is not
	// yet proven; the client may retry after the handshake (425).
	reasonTooEarly = "tls_handshake_incomplete"
)

// reasons lists every reason, so each has a metric series from the start.
var reasons = []string{reasonNoAddress, reasonNotAllowed, reasonAmbiguousForwarded, reasonTooEarly}

// module is the name refusals carry.
const module = "subnet_guard"

func refuse(reason, detail string) *gate.Refusal {
	return &gate.Refusal{Module: module, Reason: reason, Detail: detail}
}
