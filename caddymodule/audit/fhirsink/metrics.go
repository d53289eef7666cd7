package fhirsink

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crgate/crgate/internal/promreg"
)

// Collectors are process-wide (see nodeauth's metrics): counts survive
// config reloads.
var (
	bundlesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "audit_fhir", Name: "bundles_total",
		Help: "Batch Bundles POSTed to the FHIR server, by result (ok, partial, http_error, transport_error, bad_response).",
	}, []string{"result"})
	deadLettered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "audit_fhir", Name: "dead_letters_total",
		Help: "AuditEvents the FHIR server refused for good, written to the dead-letter file, by reason.",
	}, []string{"reason"})
)

func registerMetrics(reg *prometheus.Registry) error {
	return promreg.Register(reg, bundlesTotal, deadLettered)
}
