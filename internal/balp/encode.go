package balp

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"

	c "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	d "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ae "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/audit_event_go_proto"
)

// The fast encoder writes an AuditEvent proto as compact FHIR JSON, byte
// for byte what google/fhir/go's jsonformat.Marshaller writes (object keys
// in sorted order, Go's JSON string escaping without HTML escaping), but
// with direct field access instead of protobuf reflection: jsonformat
// spends ~780 allocations and ~160 µs of CPU per event walking
// descriptors and building maps, which alone would cap the audit pipeline
// far below its 20,000 events/s target on two cores.
//
// It covers exactly the elements this package's builder sets. The
// equivalence is not assumed: TestFastEncoderMatchesJSONFormat compares
// the two on every golden event and on fuzzed records, so an element added
// to the builder but not here fails the tests.

// preencoded holds the JSON of elements shared by every event (the
// package's codings and agent types, a builder's source): written once,
// copied per event. Keyed by pointer: only the shared instances hit, so an
// element built per event is always encoded afresh.
type preencoded struct {
	codings  map[*d.Coding][]byte
	concepts map[*d.CodeableConcept][]byte
	source   *ae.AuditEvent_Source
	srcJSON  []byte
}

// sharedJSON is the JSON of the package's shared codings and concepts.
var sharedJSON = func() *preencoded {
	p := &preencoded{codings: map[*d.Coding][]byte{}, concepts: map[*d.CodeableConcept][]byte{}}
	var none preencoded
	for _, c := range allCodings() {
		p.codings[c] = appendCoding(nil, c, &none)
	}
	for _, c := range []*d.CodeableConcept{agentSource, agentDestination, agentApplication, agentUser, agentAuthServer} {
		p.concepts[c] = appendConcept(nil, c, &none)
	}
	return p
}()

func appendEvent(b []byte, ev *ae.AuditEvent, pre *preencoded) []byte {
	w := objWriter{b: append(b, '{')}
	if ev.Action != nil {
		w.key("action")
		w.b = strconv.AppendQuote(w.b, ev.Action.Value.String()) // C R U D E
	}
	array(&w, "agent", ev.Agent, func(b []byte, a *ae.AuditEvent_Agent) []byte { return appendAgent(b, a, pre) })
	array(&w, "entity", ev.Entity, func(b []byte, e *ae.AuditEvent_Entity) []byte { return appendEntity(b, e, pre) })
	member(&w, "id", ev.Id)
	if ev.Outcome != nil {
		w.key("outcome")
		w.b = strconv.AppendQuote(w.b, outcomeCode(ev.Outcome))
	}
	member(&w, "outcomeDesc", ev.OutcomeDesc)
	if p := ev.Period; p != nil {
		n := w.open("period")
		timeMember(&n, "end", p.End)
		timeMember(&n, "start", p.Start)
		w.end(n)
	}
	timeMember(&w, "recorded", ev.Recorded)
	w.key("resourceType")
	w.b = append(w.b, `"AuditEvent"`...)
	object(&w, "source", ev.Source, func(b []byte, v *ae.AuditEvent_Source) []byte { return appendSource(b, v, pre) })
	array(&w, "subtype", ev.Subtype, func(b []byte, c *d.Coding) []byte { return appendCoding(b, c, pre) })
	object(&w, "type", ev.Type, func(b []byte, v *d.Coding) []byte { return appendCoding(b, v, pre) })
	return append(w.b, '}')
}

// objWriter writes the members of one JSON object, commas between. The
// members must be written in sorted key order, as jsonformat (through
// encoding/json's sorted map keys) writes them.
type objWriter struct {
	b    []byte
	some bool
}

func (w *objWriter) key(k string) {
	if w.some {
		w.b = append(w.b, ',')
	}
	w.some = true
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

// open starts member k as a nested object; close it with end.
func (w *objWriter) open(k string) objWriter {
	w.key(k)
	return objWriter{b: append(w.b, '{')}
}

// end closes nested object n opened on w.
func (w *objWriter) end(n objWriter) { w.b = append(n.b, '}') }

// stringish are the FHIR primitives written as JSON strings.
type stringish interface {
	*d.String | *d.Uri | *d.Code | *d.Id
	GetValue() string
}

// member writes member k when the string-valued element v is present.
func member[T stringish](w *objWriter, k string, v T) {
	if v != nil {
		w.key(k)
		w.b = appendString(w.b, v.GetValue())
	}
}

// timeMember writes member k when the instant or dateTime is present.
func timeMember[T interface {
	*d.Instant | *d.DateTime
	GetValueUs() int64
}](w *objWriter, k string, v T) {
	if v != nil {
		w.key(k)
		w.b = appendTime(w.b, v.GetValueUs())
	}
}

// object writes member k with elem when v is present.
func object[T comparable](w *objWriter, k string, v T, elem func([]byte, T) []byte) {
	var none T
	if v != none {
		w.key(k)
		w.b = elem(w.b, v)
	}
}

// array writes member k as a JSON array of items when there are any.
func array[T any](w *objWriter, k string, items []T, elem func([]byte, T) []byte) {
	if len(items) == 0 {
		return
	}
	w.key(k)
	w.b = append(w.b, '[')
	for i, it := range items {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = elem(w.b, it)
	}
	w.b = append(w.b, ']')
}

func appendAgent(b []byte, a *ae.AuditEvent_Agent, pre *preencoded) []byte {
	w := objWriter{b: append(b, '{')}
	member(&w, "altId", a.AltId)
	member(&w, "name", a.Name)
	if nt := a.Network; nt != nil {
		n := w.open("network")
		member(&n, "address", nt.Address)
		if nt.Type != nil {
			n.key("type")
			n.b = append(n.b, '"')
			n.b = strconv.AppendInt(n.b, int64(nt.Type.Value), 10) // enum numbers are the codes 1..5
			n.b = append(n.b, '"')
		}
		w.end(n)
	}
	if a.Requestor != nil {
		w.key("requestor")
		w.b = strconv.AppendBool(w.b, a.Requestor.Value)
	}
	array(&w, "role", a.Role, func(b []byte, c *d.CodeableConcept) []byte { return appendConcept(b, c, pre) })
	object(&w, "type", a.Type, func(b []byte, v *d.CodeableConcept) []byte { return appendConcept(b, v, pre) })
	object(&w, "who", a.Who, appendReference)
	return append(w.b, '}')
}

func appendEntity(b []byte, e *ae.AuditEvent_Entity, pre *preencoded) []byte {
	w := objWriter{b: append(b, '{')}
	member(&w, "description", e.Description)
	if e.Query != nil {
		w.key("query")
		w.b = append(w.b, '"')
		w.b = base64.StdEncoding.AppendEncode(w.b, e.Query.Value)
		w.b = append(w.b, '"')
	}
	object(&w, "role", e.Role, func(b []byte, v *d.Coding) []byte { return appendCoding(b, v, pre) })
	object(&w, "type", e.Type, func(b []byte, v *d.Coding) []byte { return appendCoding(b, v, pre) })
	object(&w, "what", e.What, appendReference)
	return append(w.b, '}')
}

func appendSource(b []byte, s *ae.AuditEvent_Source, pre *preencoded) []byte {
	if s == pre.source && pre.srcJSON != nil {
		return append(b, pre.srcJSON...)
	}
	w := objWriter{b: append(b, '{')}
	object(&w, "observer", s.Observer, appendReference)
	member(&w, "site", s.Site)
	array(&w, "type", s.Type, func(b []byte, c *d.Coding) []byte { return appendCoding(b, c, pre) })
	return append(w.b, '}')
}

func appendCoding(b []byte, c *d.Coding, pre *preencoded) []byte {
	if j, ok := pre.codings[c]; ok {
		return append(b, j...)
	}
	w := objWriter{b: append(b, '{')}
	member(&w, "code", c.Code)
	member(&w, "display", c.Display)
	member(&w, "system", c.System)
	return append(w.b, '}')
}

func appendConcept(b []byte, c *d.CodeableConcept, pre *preencoded) []byte {
	if j, ok := pre.concepts[c]; ok {
		return append(b, j...)
	}
	w := objWriter{b: append(b, '{')}
	array(&w, "coding", c.Coding, func(b []byte, c *d.Coding) []byte { return appendCoding(b, c, pre) })
	member(&w, "text", c.Text)
	return append(w.b, '}')
}

func appendReference(b []byte, r *d.Reference) []byte {
	w := objWriter{b: append(b, '{')}
	member(&w, "display", r.Display)
	if id := r.Identifier; id != nil {
		n := w.open("identifier")
		member(&n, "system", id.System)
		member(&n, "value", id.Value)
		w.end(n)
	}
	member(&w, "reference", r.GetUri())
	return append(w.b, '}')
}

// outcomeCode is the FHIR code of an outcome enum.
func outcomeCode(o *ae.AuditEvent_OutcomeCode) string {
	switch o.Value {
	case c.AuditEventOutcomeCode_SUCCESS:
		return "0"
	case c.AuditEventOutcomeCode_MINOR_FAILURE:
		return "4"
	case c.AuditEventOutcomeCode_SERIOUS_FAILURE:
		return "8"
	default:
		return "12"
	}
}

// appendTime writes a UTC instant with microseconds,
// "2006-01-02T15:04:05.000000Z", as jsonformat does for MICROSECOND
// precision and timezone "Z" (by hand: time's layout formatter is a
// sixth of an event's cost). Years are 1..9999 (event checks).
func appendTime(b []byte, us int64) []byte {
	t := time.UnixMicro(us).UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z', '"')
}

// appendDigits writes v (≥ 0) zero-padded to width digits.
func appendDigits(b []byte, v, width int) []byte {
	var buf [8]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:width]...)
}

// appendString writes s as a JSON string exactly as encoding/json does with
// HTML escaping off: ", \ and control characters escaped (\b \f \n \r \t
// short forms, others \u00XX), invalid UTF-8 as \ufffd, U+2028 and U+2029
// escaped.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
