// Package auditsink is the contract between the audit app and its sinks
// (modules in the audit.sinks namespace): what an event handed to a sink
// is, and what a sink must do with it.
package auditsink

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"time"

	"github.com/crgate/crgate/internal/auditrec"
)

// Event is one audit event ready for delivery.
//
// An Event's memory belongs to the audit app and is valid only until the
// Deliver call it was passed to returns: the app builds each batch into
// memory it reuses for the next one (the JSON, and the Record's strings,
// ID included). A sink must not modify it, and a sink that keeps anything
// of an event after Deliver returns (a queue, a retry buffer, a
// background writer, a dead-letter entry written later) must copy it
// first, e.g. with Clone. Copying happens naturally when a sink writes the
// event out (to a file, a socket, a request body) before returning.
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

// Clone returns a deep copy of e that stays valid after Deliver returns.
func (e Event) Clone() Event { return e.CopyWith(strings.Clone, bytes.Clone) }

// CopyWith is Clone with the copying given: str copies each string (the
// ID and every string of the Record, nested ones included — found by
// reflection, so a field added to auditrec.Record cannot be forgotten) and
// b copies the JSON; e.g. to copy into an arena of one's own.
func (e Event) CopyWith(str func(string) string, b func([]byte) []byte) Event {
	e.ID = str(e.ID)
	e.JSON = b(e.JSON)
	if e.Record != nil {
		r := *e.Record
		copyStrings(reflect.ValueOf(&r).Elem(), str)
		e.Record = &r
	}
	return e
}

// copyStrings replaces every exported string in v (a struct), nested
// structs included, with str's copy of it.
func copyStrings(v reflect.Value, str func(string) string) {
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(str(f.String()))
		case reflect.Struct:
			copyStrings(f, str)
		}
	}
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
	// a crash. ctx ends when the app stops. The events are valid only
	// until Deliver returns (see Event).
	Deliver(ctx context.Context, events []Event) (n int, err error)
}
