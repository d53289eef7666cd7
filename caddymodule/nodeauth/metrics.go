package nodeauth

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crgate/crgate/internal/promreg"
)

// Collectors are process-wide, as Caddy's own are: every config load gets
// a fresh metrics registry and re-registers them, so counts survive reloads.
var (
	handshakesRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "node", Name: "handshakes_refused_total",
		Help: "TLS handshakes refused by the node registry verifier, by reason.",
	}, []string{"reason"})
	requestsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "node", Name: "requests_refused_total",
		Help: "Requests refused by node_auth, by reason.",
	}, []string{"reason"})
	nodeRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "node", Name: "requests_total",
		Help: "Requests authenticated by node_auth, by node id.",
	}, []string{"node"})
	reloadsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "node_registry", Name: "reloads_total",
		Help: "Reloads of the clients file and CRLs, by result (ok, error).",
	}, []string{"result"})
	nodesGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "crgate", Subsystem: "node_registry", Name: "nodes",
		Help: "Nodes in the loaded clients file.",
	})
)

func registerMetrics(reg *prometheus.Registry) error {
	return promreg.Register(reg, handshakesRefused, requestsRefused, nodeRequests, reloadsTotal, nodesGauge)
}
