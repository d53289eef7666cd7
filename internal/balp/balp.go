// Package balp turns an audit record into a FHIR R4 AuditEvent following
// the IHE Basic Audit Log Patterns (BALP) and DICOM security-alert codes,
// built with github.com/google/fhir/go's R4 protos and written as exactly
// the JSON its jsonformat marshaller writes (by a typed encoder ~40 times
// faster, see encode.go). It is the one place that knows those codes; it
// runs off the request path (in the audit pipeline's workers), never in a
// handler.
//
// docs/audit_events.md lists which record becomes which event.
package balp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	d "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
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
	// JSONFormat selects google/fhir/go's jsonformat marshaller instead of
	// the fast encoder. Both produce the same bytes (tests prove it on every
	// golden event and under fuzzing); jsonformat is reflection-driven,
	// ~40 times slower and ~780 allocations per event. For tests and
	// diagnosis.
	JSONFormat bool
}

// defaultMaxQueryBytes is Source.MaxQueryBytes's default.
const defaultMaxQueryBytes = 8192

// Builder builds AuditEvents for one gateway. It is safe for concurrent
// use.
type Builder struct {
	src Source
	m   *jsonformat.Marshaller

	// Built once and shared, read-only, by every event.
	source *ae.AuditEvent_Source
	gw     *d.Reference
	pre    *preencoded
}

// NewBuilder returns a Builder for src.
func NewBuilder(src Source) (*Builder, error) {
	if src.ObserverID == "" {
		return nil, errors.New("balp: observer id is required")
	}
	for _, f := range []struct{ name, v string }{{"observer id", src.ObserverID}, {"observer name", src.ObserverName}, {"site", src.Site}} {
		if clean(f.v) != f.v || strings.ContainsAny(f.v, "\t\r\n") {
			return nil, fmt.Errorf("balp: %s %q is not a one-line FHIR string (control or separator characters, invalid UTF-8, or over %d bytes)", f.name, f.v, maxText)
		}
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
	bl := &Builder{src: src, m: m}
	bl.gw = &d.Reference{
		Identifier: &d.Identifier{System: &d.Uri{Value: SystemObserver}, Value: &d.String{Value: src.ObserverID}},
		Display:    str(src.ObserverName),
	}
	bl.source = &ae.AuditEvent_Source{
		Site:     str(src.Site),
		Observer: bl.gw,
		Type:     []*d.Coding{sourceAppServer},
	}
	pre := *sharedJSON
	pre.source = bl.source
	pre.srcJSON = appendSource(nil, bl.source, sharedJSON)
	bl.pre = &pre
	return bl, nil
}

// Marshal builds rec's AuditEvent (id = rec.ID) and returns it as compact
// FHIR R4 JSON. It fails only for a record that breaks the pipeline's
// contract (no valid id, no time, unknown kind).
func (b *Builder) Marshal(rec *auditrec.Record) ([]byte, error) {
	if b.src.JSONFormat {
		return b.AppendMarshal(nil, rec)
	}
	// Encode into the pooled scratch buffer, return an exact-size copy.
	x := b.getBuild(rec)
	defer x.release()
	ev, err := x.event()
	if err != nil {
		return nil, err
	}
	x.out = appendEvent(x.out[:0], ev, b.pre)
	return append([]byte(nil), x.out...), nil
}

// AppendMarshal is Marshal appending the JSON to dst, so a caller that
// builds many events into one reused buffer allocates nothing per event.
// On an error dst is returned unchanged. The event does not refer to rec
// or dst once AppendMarshal returns.
func (b *Builder) AppendMarshal(dst []byte, rec *auditrec.Record) ([]byte, error) {
	x := b.getBuild(rec)
	defer x.release()
	ev, err := x.event()
	if err != nil {
		return dst, err
	}
	if b.src.JSONFormat {
		out, err := b.m.MarshalResource(ev)
		if err != nil {
			return dst, fmt.Errorf("balp: marshalling event %s: %w", rec.ID, err)
		}
		return append(dst, out...), nil
	}
	return appendEvent(dst, ev, b.pre), nil
}

// event builds the record's AuditEvent as a google/fhir/go R4 proto, in
// x's arena. Parts of it (codings, source, the gateway's reference) are
// shared between events; all of it is valid only until x is released.
func (x *build) event() (*ae.AuditEvent, error) {
	rec := x.rec
	if !validID(rec.ID) {
		return nil, fmt.Errorf("balp: record id %q is not a valid FHIR id", rec.ID)
	}
	if y := rec.Time.UTC().Year(); rec.Time.IsZero() || y < 1 || y > 9999 {
		return nil, fmt.Errorf("balp: record %s has no time (or one FHIR cannot write)", rec.ID)
	}
	switch rec.Kind {
	case auditrec.KindRequest:
		return x.request(), nil
	case auditrec.KindHandshake:
		return x.handshake(), nil
	case auditrec.KindApplicationStart, auditrec.KindApplicationStop:
		return x.application(), nil
	case auditrec.KindUserLogin, auditrec.KindUserLogout:
		return x.userAuthentication(), nil
	case auditrec.KindUserAccountChange:
		return x.accountChange(), nil
	default:
		return nil, fmt.Errorf("balp: record %s has unknown kind %d", rec.ID, rec.Kind)
	}
}
