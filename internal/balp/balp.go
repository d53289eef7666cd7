// Package balp turns an audit record into a FHIR R4 AuditEvent following
// the IHE Basic Audit Log Patterns (BALP) and DICOM security-alert codes,
// built with github.com/google/fhir/go's R4 protos and marshalled with its
// jsonformat. It is the one place that knows those codes; it runs off the
// request path (in the audit pipeline's workers), never in a handler.
//
// docs/audit_events.md lists which record becomes which event.
package balp

import (
	"errors"
	"fmt"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	ae "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/audit_event_go_proto"

	"github.com/crgate/crgate/internal/auditrec"
)

// Source is the gateway's identity as the events' audit source.
type Source struct {
	// Site is AuditEvent.source.site, e.g. the deployment's name.
	Site string
	// ObserverID identifies this gateway instance (AuditEvent.source.observer
	// identifier value), e.g. its host name.
	ObserverID string
	// ObserverName is a human-readable name for the observer.
	ObserverName string
	// MaxQueryBytes bounds the raw request kept in the query entity (method,
	// URI and POST _search body) before base64; longer requests are cut and
	// the entity's description says so. Default 8192; an event must fit a
	// syslog receiver's limit (32 KiB by default) whatever a client sends.
	MaxQueryBytes int
	// Reference selects google/fhir/go's jsonformat marshaller instead of
	// the fast encoder. Both produce the same bytes (tests prove it on every
	// golden event and under fuzzing); jsonformat is reflection-driven and
	// roughly ten times slower. For tests and diagnosis.
	Reference bool
}

// defaultMaxQueryBytes is Source.MaxQueryBytes's default.
const defaultMaxQueryBytes = 8192

// Builder builds AuditEvents for one gateway. It is safe for concurrent
// use.
type Builder struct {
	src Source
	m   *jsonformat.Marshaller
}

// NewBuilder returns a Builder for src.
func NewBuilder(src Source) (*Builder, error) {
	if src.ObserverID == "" {
		return nil, errors.New("balp: observer id is required")
	}
	if clean(src.ObserverID) != src.ObserverID || clean(src.Site) != src.Site || clean(src.ObserverName) != src.ObserverName {
		return nil, errors.New("balp: site and observer must be valid FHIR strings (no control characters)")
	}
	if src.MaxQueryBytes < 0 {
		return nil, fmt.Errorf("balp: max query bytes %d is negative", src.MaxQueryBytes)
	}
	if src.MaxQueryBytes == 0 {
		src.MaxQueryBytes = defaultMaxQueryBytes
	}
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		return nil, fmt.Errorf("balp: creating FHIR R4 marshaller: %w", err)
	}
	return &Builder{src: src, m: m}, nil
}

// Marshal builds rec's AuditEvent (id = rec.ID) and returns it as compact
// FHIR R4 JSON. It fails only for a record that breaks the pipeline's
// contract (no valid id, no time, unknown kind).
func (b *Builder) Marshal(rec *auditrec.Record) ([]byte, error) {
	ev, err := b.Event(rec)
	if err != nil {
		return nil, err
	}
	if b.src.Reference {
		out, err := b.m.MarshalResource(ev)
		if err != nil {
			return nil, fmt.Errorf("balp: marshalling event %s: %w", rec.ID, err)
		}
		return out, nil
	}
	return appendEvent(make([]byte, 0, 2048), ev), nil
}

// Event builds rec's AuditEvent as a google/fhir/go R4 proto.
func (b *Builder) Event(rec *auditrec.Record) (*ae.AuditEvent, error) {
	if !validID(rec.ID) {
		return nil, fmt.Errorf("balp: record id %q is not a valid FHIR id", rec.ID)
	}
	if rec.Time.IsZero() {
		return nil, fmt.Errorf("balp: record %s has no time", rec.ID)
	}
	switch rec.Kind {
	case auditrec.KindRequest:
		return b.request(rec), nil
	case auditrec.KindHandshake:
		return b.handshake(rec), nil
	case auditrec.KindApplicationStart, auditrec.KindApplicationStop:
		return b.application(rec), nil
	case auditrec.KindUserLogin, auditrec.KindUserLogout:
		return b.userAuthentication(rec), nil
	case auditrec.KindUserAccountChange:
		return b.accountChange(rec), nil
	default:
		return nil, fmt.Errorf("balp: record %s has unknown kind %d", rec.ID, rec.Kind)
	}
}
