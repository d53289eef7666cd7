package fhirguard

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crgate/crgate/internal/promreg"
)

// refused is process-wide, as Caddy's own collectors are: every config load
// gets a fresh metrics registry and re-registers it, so counts survive
// reloads. Labels are bounded: reasons are a closed set, nodes are the
// registered ones ("" before node_auth established one).
var refused = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "crgate", Subsystem: "fhir_guard", Name: "refused_total",
	Help: "Requests refused by fhir_guard, by reason and node id.",
}, []string{"reason", "node"})

func registerMetrics(reg *prometheus.Registry) error {
	return promreg.Register(reg, refused)
}
