// Package balp turns an audit record into a FHIR R4 AuditEvent following
// the IHE Basic Audit Log Patterns (BALP) and DICOM security-alert codes,
// built with github.com/google/fhir/go's R4 protos and marshalled with its
// jsonformat. It is the one place that knows those codes; it runs off the
// request path (in the audit pipeline's workers), never in a handler.
package balp

import (
	"encoding/json"
	"errors"

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
}

// Builder builds AuditEvents for one gateway. It is safe for concurrent
// use.
type Builder struct {
	src Source
}

// NewBuilder returns a Builder for src.
func NewBuilder(src Source) (*Builder, error) {
	if src.ObserverID == "" {
		return nil, errors.New("balp: observer id is required")
	}
	return &Builder{src: src}, nil
}

// Marshal builds rec's AuditEvent (id = rec.ID) and returns it as compact
// FHIR R4 JSON.
//
// PLACEHOLDER: the real builder (google/fhir/go protos, BALP codes) replaces
// this body; the signature is the contract the audit pipeline uses.
func (b *Builder) Marshal(rec *auditrec.Record) ([]byte, error) {
	return json.Marshal(map[string]any{"resourceType": "AuditEvent", "id": rec.ID})
}
