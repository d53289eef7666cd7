package syslogsink

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crgate/crgate/internal/promreg"
)

// Collectors are process-wide (see nodeauth's metrics): counts survive
// config reloads.
var (
	connectsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "audit_syslog", Name: "connects_total",
		Help: "TLS connections to the syslog collector, by result (ok, error).",
	}, []string{"result"})
	messagesTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "audit_syslog", Name: "messages_total",
		Help: "Syslog messages written and flushed to the collector's connection.",
	})
	connLost = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "audit_syslog", Name: "connections_lost_total",
		Help: "Connections found closed or broken (before, during or after a batch); the unconfirmed messages are sent again.",
	})
	deadLettered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "audit_syslog", Name: "dead_letters_total",
		Help: "AuditEvents that cannot be sent as syslog messages (over max_message_size), written to the dead-letter file, by reason.",
	}, []string{"reason"})
)

func registerMetrics(reg *prometheus.Registry) error {
	return promreg.Register(reg, connectsTotal, messagesTotal, connLost, deadLettered)
}
