// Package promreg registers crgate's process-wide collectors with the
// metrics registry of each Caddy config load.
package promreg

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers every collector with reg, tolerating ones already
// there: Caddy makes a fresh registry per config load but a module may be
// provisioned several times within one load. A nil reg (no metrics
// configured) registers nothing.
func Register(reg *prometheus.Registry, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return fmt.Errorf("registering metrics: %w", err)
			}
		}
	}
	return nil
}
