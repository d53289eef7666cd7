package balp

import (
	"sync"

	d "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ae "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/audit_event_go_proto"

	"github.com/crgate/crgate/internal/auditrec"
)

// build is one event under construction: the record, its builder, and an
// arena holding the proto elements a typical event needs. An event's
// protos live only until they are encoded, so the arena is pooled and
// reused: the ~40 small allocations an event would otherwise cost (and
// the garbage collector's work on them) become none in the steady state.
// Elements beyond the arena's capacity are allocated normally.
type build struct {
	b   *Builder
	rec *auditrec.Record

	ev      ae.AuditEvent
	id      d.Id
	recd    d.Instant
	period_ d.Period
	times   [2]d.DateTime
	q       d.Base64Binary
	qbuf    []byte
	out     []byte
	subs    [2]*d.Coding
	agentsP [3]*ae.AuditEvent_Agent
	entsP   [6]*ae.AuditEvent_Entity
	roleP   [1]*d.CodeableConcept

	strs     [16]d.String
	uris     [4]d.Uri
	refs     [8]d.Reference
	refURIs  [6]d.Reference_Uri
	idents   [8]d.Identifier
	agents   [3]ae.AuditEvent_Agent
	nets     [3]ae.AuditEvent_Agent_Network
	ents     [6]ae.AuditEvent_Entity
	concepts [1]d.CodeableConcept
	patients []patient
	n        struct{ strs, uris, refs, refURIs, idents, agents, nets, ents, concepts int }
}

var buildPool = sync.Pool{New: func() any { return new(build) }}

// getBuild returns a cleared build for rec.
func (b *Builder) getBuild(rec *auditrec.Record) *build {
	x := buildPool.Get().(*build)
	x.b, x.rec = b, rec
	return x
}

// release clears x (so no record data outlives the call) and returns it to
// the pool; x's protos must no longer be referenced. Only the elements
// used are cleared: clearing the whole arena costs more than building.
func (x *build) release() {
	x.b, x.rec = nil, nil
	x.ev = ae.AuditEvent{}
	x.id = d.Id{}
	x.recd = d.Instant{}
	x.period_ = d.Period{}
	x.q = d.Base64Binary{}
	clear(x.times[:])
	clear(x.subs[:])
	clear(x.agentsP[:])
	clear(x.entsP[:])
	clear(x.roleP[:])
	clear(x.strs[:min(x.n.strs, len(x.strs))])
	clear(x.uris[:min(x.n.uris, len(x.uris))])
	clear(x.refs[:min(x.n.refs, len(x.refs))])
	clear(x.refURIs[:min(x.n.refURIs, len(x.refURIs))])
	clear(x.idents[:min(x.n.idents, len(x.idents))])
	clear(x.agents[:min(x.n.agents, len(x.agents))])
	clear(x.nets[:min(x.n.nets, len(x.nets))])
	clear(x.ents[:min(x.n.ents, len(x.ents))])
	clear(x.concepts[:min(x.n.concepts, len(x.concepts))])
	x.n = struct{ strs, uris, refs, refURIs, idents, agents, nets, ents, concepts int }{}
	if cap(x.qbuf) > 64<<10 {
		x.qbuf = nil // do not pin a huge buffer
	}
	if cap(x.out) > 64<<10 {
		x.out = nil
	}
	x.qbuf, x.out = x.qbuf[:0], x.out[:0]
	clear(x.patients)
	x.patients = x.patients[:0]
	buildPool.Put(x)
}

// take returns the next free element of pool, or a new one when it is
// exhausted.
func take[T any](pool []T, n *int) *T {
	if *n < len(pool) {
		p := &pool[*n]
		*n++
		return p
	}
	return new(T)
}

// str returns a FHIR string for s after cleaning, nil when empty.
func (x *build) str(s string) *d.String {
	s = clean(s)
	if s == "" {
		return nil
	}
	return x.rawStr(s)
}

// rawStr returns a FHIR string for s, which must already be clean.
func (x *build) rawStr(s string) *d.String {
	p := take(x.strs[:], &x.n.strs)
	p.Value = s
	return p
}

func (x *build) uri(s string) *d.Uri {
	p := take(x.uris[:], &x.n.uris)
	p.Value = s
	return p
}

func (x *build) ref() *d.Reference { return take(x.refs[:], &x.n.refs) }

// refTo is a literal reference, e.g. Patient/123.
func (x *build) refTo(s string) *d.Reference {
	r := x.ref()
	u := take(x.refURIs[:], &x.n.refURIs)
	u.Uri = x.rawStr(s)
	r.Reference = u
	return r
}

// identifier is system|value; system may be empty.
func (x *build) identifier(system, value string) *d.Identifier {
	id := take(x.idents[:], &x.n.idents)
	if system != "" {
		id.System = x.uri(system)
	}
	id.Value = x.rawStr(value)
	return id
}

func (x *build) agent() *ae.AuditEvent_Agent { return take(x.agents[:], &x.n.agents) }

func (x *build) network(addr string, typ *ae.AuditEvent_Agent_Network_TypeCode) *ae.AuditEvent_Agent_Network {
	n := take(x.nets[:], &x.n.nets)
	n.Address = x.rawStr(addr)
	n.Type = typ
	return n
}

func (x *build) entity() *ae.AuditEvent_Entity { return take(x.ents[:], &x.n.ents) }
