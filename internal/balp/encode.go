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
// spends ~800 allocations and tens of microseconds per event walking
// descriptors and building maps, which alone would cap the audit pipeline
// far below its 20,000 events/s target on two cores.
//
// It covers exactly the elements this package's builder sets. The
// equivalence is not assumed: TestFastEncoderMatchesJSONFormat compares
// the two on every golden event and on fuzzed records, so an element added
// to the builder but not here fails the tests.

func appendEvent(b []byte, ev *ae.AuditEvent) []byte {
	b = append(b, '{')
	w := objWriter{b: b}
	if ev.Action != nil {
		w.key("action")
		w.b = strconv.AppendQuote(w.b, ev.Action.Value.String()) // C R U D E
	}
	if len(ev.Agent) > 0 {
		w.key("agent")
		w.b = append(w.b, '[')
		for i, a := range ev.Agent {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = appendAgent(w.b, a)
		}
		w.b = append(w.b, ']')
	}
	if len(ev.Entity) > 0 {
		w.key("entity")
		w.b = append(w.b, '[')
		for i, e := range ev.Entity {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = appendEntity(w.b, e)
		}
		w.b = append(w.b, ']')
	}
	if ev.Id != nil {
		w.key("id")
		w.b = appendString(w.b, ev.Id.Value)
	}
	if ev.Outcome != nil {
		w.key("outcome")
		w.b = append(w.b, '"')
		w.b = append(w.b, outcomeCode(ev.Outcome)...)
		w.b = append(w.b, '"')
	}
	if ev.OutcomeDesc != nil {
		w.key("outcomeDesc")
		w.b = appendString(w.b, ev.OutcomeDesc.Value)
	}
	if ev.Period != nil {
		w.key("period")
		w.b = appendPeriod(w.b, ev.Period)
	}
	if ev.Recorded != nil {
		w.key("recorded")
		w.b = appendTime(w.b, ev.Recorded.ValueUs)
	}
	w.key("resourceType")
	w.b = append(w.b, `"AuditEvent"`...)
	if ev.Source != nil {
		w.key("source")
		w.b = appendSource(w.b, ev.Source)
	}
	if len(ev.Subtype) > 0 {
		w.key("subtype")
		w.b = appendCodings(w.b, ev.Subtype)
	}
	if ev.Type != nil {
		w.key("type")
		w.b = appendCoding(w.b, ev.Type)
	}
	return append(w.b, '}')
}

// objWriter writes the members of one JSON object, commas between.
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

func appendAgent(b []byte, a *ae.AuditEvent_Agent) []byte {
	b = append(b, '{')
	w := objWriter{b: b}
	if a.AltId != nil {
		w.key("altId")
		w.b = appendString(w.b, a.AltId.Value)
	}
	if a.Name != nil {
		w.key("name")
		w.b = appendString(w.b, a.Name.Value)
	}
	if n := a.Network; n != nil {
		w.key("network")
		w.b = append(w.b, '{')
		nw := objWriter{b: w.b}
		if n.Address != nil {
			nw.key("address")
			nw.b = appendString(nw.b, n.Address.Value)
		}
		if n.Type != nil {
			nw.key("type")
			nw.b = append(nw.b, '"')
			nw.b = strconv.AppendInt(nw.b, int64(n.Type.Value), 10) // enum numbers are the codes 1..5
			nw.b = append(nw.b, '"')
		}
		w.b = append(nw.b, '}')
	}
	if a.Requestor != nil {
		w.key("requestor")
		w.b = strconv.AppendBool(w.b, a.Requestor.Value)
	}
	if len(a.Role) > 0 {
		w.key("role")
		w.b = append(w.b, '[')
		for i, r := range a.Role {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = appendConcept(w.b, r)
		}
		w.b = append(w.b, ']')
	}
	if a.Type != nil {
		w.key("type")
		w.b = appendConcept(w.b, a.Type)
	}
	if a.Who != nil {
		w.key("who")
		w.b = appendReference(w.b, a.Who)
	}
	return append(w.b, '}')
}

func appendEntity(b []byte, e *ae.AuditEvent_Entity) []byte {
	b = append(b, '{')
	w := objWriter{b: b}
	if e.Description != nil {
		w.key("description")
		w.b = appendString(w.b, e.Description.Value)
	}
	if e.Query != nil {
		w.key("query")
		w.b = append(w.b, '"')
		w.b = base64.StdEncoding.AppendEncode(w.b, e.Query.Value)
		w.b = append(w.b, '"')
	}
	if e.Role != nil {
		w.key("role")
		w.b = appendCoding(w.b, e.Role)
	}
	if e.Type != nil {
		w.key("type")
		w.b = appendCoding(w.b, e.Type)
	}
	if e.What != nil {
		w.key("what")
		w.b = appendReference(w.b, e.What)
	}
	return append(w.b, '}')
}

func appendSource(b []byte, s *ae.AuditEvent_Source) []byte {
	b = append(b, '{')
	w := objWriter{b: b}
	if s.Observer != nil {
		w.key("observer")
		w.b = appendReference(w.b, s.Observer)
	}
	if s.Site != nil {
		w.key("site")
		w.b = appendString(w.b, s.Site.Value)
	}
	if len(s.Type) > 0 {
		w.key("type")
		w.b = appendCodings(w.b, s.Type)
	}
	return append(w.b, '}')
}

func appendPeriod(b []byte, p *d.Period) []byte {
	b = append(b, '{')
	w := objWriter{b: b}
	if p.End != nil {
		w.key("end")
		w.b = appendTime(w.b, p.End.ValueUs)
	}
	if p.Start != nil {
		w.key("start")
		w.b = appendTime(w.b, p.Start.ValueUs)
	}
	return append(w.b, '}')
}

func appendCodings(b []byte, cs []*d.Coding) []byte {
	b = append(b, '[')
	for i, c := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCoding(b, c)
	}
	return append(b, ']')
}

func appendCoding(b []byte, c *d.Coding) []byte {
	b = append(b, '{')
	w := objWriter{b: b}
	if c.Code != nil {
		w.key("code")
		w.b = appendString(w.b, c.Code.Value)
	}
	if c.Display != nil {
		w.key("display")
		w.b = appendString(w.b, c.Display.Value)
	}
	if c.System != nil {
		w.key("system")
		w.b = appendString(w.b, c.System.Value)
	}
	return append(w.b, '}')
}

func appendConcept(b []byte, c *d.CodeableConcept) []byte {
	b = append(b, '{')
	w := objWriter{b: b}
	if len(c.Coding) > 0 {
		w.key("coding")
		w.b = appendCodings(w.b, c.Coding)
	}
	if c.Text != nil {
		w.key("text")
		w.b = appendString(w.b, c.Text.Value)
	}
	return append(w.b, '}')
}

func appendReference(b []byte, r *d.Reference) []byte {
	b = append(b, '{')
	w := objWriter{b: b}
	if r.Display != nil {
		w.key("display")
		w.b = appendString(w.b, r.Display.Value)
	}
	if id := r.Identifier; id != nil {
		w.key("identifier")
		w.b = append(w.b, '{')
		iw := objWriter{b: w.b}
		if id.System != nil {
			iw.key("system")
			iw.b = appendString(iw.b, id.System.Value)
		}
		if id.Value != nil {
			iw.key("value")
			iw.b = appendString(iw.b, id.Value.Value)
		}
		w.b = append(iw.b, '}')
	}
	if u := r.GetUri(); u != nil {
		w.key("reference")
		w.b = appendString(w.b, u.Value)
	}
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

// appendTime writes a UTC instant with microseconds, as jsonformat does
// for MICROSECOND precision and timezone "Z".
func appendTime(b []byte, us int64) []byte {
	b = append(b, '"')
	b = time.UnixMicro(us).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	return append(b, '"')
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
