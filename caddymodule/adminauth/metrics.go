package adminauth

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crgate/crgate/internal/promreg"
)

// Collectors are process-wide, as Caddy's own are: every config load gets
// a fresh metrics registry and re-registers them, so counts survive reloads.
var (
	loginsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "admin_login", Name: "logins_total",
		Help: "Login attempts at the admin door, by result: ok, enrol (right password, TOTP still to enrol) or the failure reason.",
	}, []string{"result"})
	sessionsEnded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "admin_login", Name: "sessions_ended_total",
		Help: "Sessions ended, by how: logout, idle_timeout, max_lifetime, account_disabled.",
	}, []string{"how"})
	lockouts = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "crgate", Subsystem: "admin_login", Name: "lockouts_total",
		Help: "Accounts locked by failed logins at this gateway.",
	})
)

func registerMetrics(reg *prometheus.Registry) error {
	return promreg.Register(reg, loginsTotal, sessionsEnded, lockouts)
}
