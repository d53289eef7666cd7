package subnet

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crgate/crgate/internal/promreg"
)

// refused is process-wide, as Caddy's own collectors are: every config
// load gets a fresh metrics registry and re-registers it, so counts
// survive reloads.
var refused = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "crgate", Subsystem: "subnet_guard", Name: "refused_total",
	Help: "Requests refused by subnet_guard, by reason.",
}, []string{"reason"})

// refusedBy holds each reason's counter, resolved once so that counting a
// refusal costs no label lookup.
var refusedBy = func() map[string]prometheus.Counter {
	m := make(map[string]prometheus.Counter, len(reasons))
	for _, r := range reasons {
		m[r] = refused.WithLabelValues(r)
	}
	return m
}()

func registerMetrics(reg *prometheus.Registry) error {
	return promreg.Register(reg, refused)
}
