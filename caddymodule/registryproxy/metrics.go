package registryproxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crgate/crgate/internal/promreg"
)

// The collectors are process-wide, as Caddy's own are: every config load
// gets a fresh metrics registry and re-registers them, so counts survive
// reloads.
var (
	dials = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "registry_proxy", Name: "upstream_dials_total",
		Help: "Connections opened to the upstream. Rising with the request rate means max_idle_conns is too small or the upstream closes keep-alive connections.",
	})
	upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "registry_proxy", Name: "errors_total",
		Help: "Requests registry_proxy did not complete, by reason (dial, write, read_header, read_body, bad_response, client_gone, and refusals: upgrade_refused, invalid_target, body_too_large, bad_request_body).",
	}, []string{"reason"})
)

func registerMetrics(reg *prometheus.Registry) error {
	return promreg.Register(reg, dials, upstreamErrors)
}
