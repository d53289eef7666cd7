package audit

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crgate/crgate/internal/promreg"
)

// Collectors are process-wide, as Caddy's own are: every config load gets
// a fresh metrics registry and re-registers them, so counts survive reloads.
var (
	eventsRecorded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "audit", Name: "events_recorded_total",
		Help: "Audit events accepted into the spool, by kind (request, handshake, application, user).",
	}, []string{"kind"})
	eventsDelivered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "audit", Name: "events_delivered_total",
		Help: "Audit events a sink reported durably delivered, by sink.",
	}, []string{"sink"})
	eventsPending = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "crgate", Subsystem: "audit", Name: "events_pending",
		Help: "Audit events in the spool not yet delivered to a sink, by sink.",
	}, []string{"sink"})
	deliveryErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "audit", Name: "delivery_errors_total",
		Help: "Failed delivery attempts (retried with backoff), by sink.",
	}, []string{"sink"})
	deliveryLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "crgate", Subsystem: "audit", Name: "delivery_latency_seconds",
		Help:    "Time from an event's capture to its delivery, by sink.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}, []string{"sink"})
	spoolBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "crgate", Subsystem: "audit", Name: "spool_bytes",
		Help: "Bytes in the audit spool's segment files.",
	})
	drops = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "audit", Name: "drops_total",
		Help: "Audit records not recorded, by reason: spool_full (when_full fail_open, or the reserve exhausted), spool_error. Stays 0 with fail_closed while the spool is healthy.",
	}, []string{"reason"})
	requestsRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "audit", Name: "requests_refused_total",
		Help: "Requests answered 503 because their audit record could not be made durable (when_full fail_closed).",
	})
	buildErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "audit", Name: "build_errors_total",
		Help: "Records the AuditEvent builder rejected (skipped, logged at error).",
	})
)

func registerMetrics(reg *prometheus.Registry) error {
	return promreg.Register(reg, eventsRecorded, eventsDelivered, eventsPending, deliveryErrors,
		deliveryLatency, spoolBytes, drops, requestsRefused, buildErrors)
}
