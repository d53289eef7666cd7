// Package auditsink is the contract between the audit app and its sinks
// (modules in the audit.sinks namespace): what an event handed to a sink
// is, and what a sink must do with it.
package auditsink

import (
	"context"
	"time"

	"github.com/crgate/crgate/internal/auditrec"
)

// Event is one audit event ready for delivery.
type Event struct {
	// Seq is the event's position in the spool: strictly increasing, never
	// reused, so a sink can tell a redelivery from a new event.
	Seq uint64
	// ID is the AuditEvent's id (a UUID), the same on every redelivery.
	ID string
	// Recorded is AuditEvent.recorded.
	Recorded time.Time
	// JSON is the FHIR R4 AuditEvent, compact JSON. Sinks must not modify
	// it.
	JSON []byte
	// Record is the record the event was built from (read-only), for sinks
	// that need a field without parsing JSON (e.g. syslog's timestamp).
	Record *auditrec.Record
}

// Sink delivers events to one destination. The audit app calls Deliver
// from one goroutine per sink, in spool order, and keeps the sink's
// delivery cursor: what a sink did not deliver is offered again after a
// backoff, so a sink that is down falls behind and catches up.
//
// Implementations are Caddy modules with IDs audit.sinks.<name>.
type Sink interface {
	// Deliver sends events in order and returns how many of the leading
	// events are now durably delivered (n ≤ len(events)). An error means
	// events[n:] were not delivered and will be offered again; delivery is
	// at-least-once, so events[:n] of an earlier call may come again after
	// a crash. ctx ends when the app stops.
	Deliver(ctx context.Context, events []Event) (n int, err error)
}
