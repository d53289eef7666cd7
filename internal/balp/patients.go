package balp

import (
	"net/url"
	"strings"

	"github.com/crgate/crgate/internal/auditrec"
)

// maxPatients bounds the patient entities of one event. A request naming
// more patients than this still has all of them in its query entity (the
// raw request); the bound keeps one hostile URL from producing an event
// too large for a syslog receiver.
const maxPatients = 10

// maxParams bounds how many query/body parameters are inspected.
const maxParams = 256

// patient is a patient a request names: by logical id (Patient/{ID}) or by
// business identifier (System|Value).
type patient struct {
	ID     string
	System string
	Value  string
}

// patientsOf returns the patients rec's request names, in order of first
// appearance, without duplicates, at most maxPatients:
//
//   - the target of an instance-level interaction on Patient (read, vread,
//     update, patch, delete, history, $operation, compartment search:
//     Patient/123, Patient/123/Observation);
//   - search parameters, from the URL and from a POST _search body:
//     patient=, patient:Patient= (ids or Patient/… references),
//     subject= (only Patient/… references: a subject may be a Group),
//     subject:Patient=, patient.identifier= and the :Patient forms
//     (identifiers), and on a Patient search _id= and identifier=;
//   - PIXm's sourceIdentifier= on Patient/$ihe-pix.
//
// Comma-separated values (FHIR's OR) name several patients. Values that are
// not a valid FHIR id or a well-formed system|value token are skipped:
// they name no patient, and the raw request is kept in the query entity
// anyway. It never panics, whatever the URL (fuzzed).
func patientsOf(rec *auditrec.Record) []patient {
	in := &rec.FHIR
	if !in.Valid {
		return nil
	}
	var ps []patient
	if in.ResourceType == "Patient" && in.ID != "" && validID(in.ID) {
		ps = append(ps, patient{ID: in.ID})
	}
	onPatient := in.ResourceType == "Patient" && in.ID == ""
	pix := onPatient && in.Code == "operation" && in.Operation == "ihe-pix"
	n := 0
	visit := func(name, value string) bool {
		n++
		if n > maxParams || len(ps) >= maxPatients {
			return false
		}
		switch name {
		case "patient", "patient:Patient", "subject:Patient":
			ps = addRefs(ps, value, false)
		case "subject":
			ps = addRefs(ps, value, true)
		case "patient.identifier", "patient:Patient.identifier", "subject:Patient.identifier":
			ps = addIdentifiers(ps, value)
		case "_id":
			if onPatient {
				ps = addRefs(ps, value, false)
			}
		case "identifier":
			if onPatient && !pix {
				ps = addIdentifiers(ps, value)
			}
		case "sourceIdentifier":
			if pix {
				ps = addIdentifiers(ps, value)
			}
		}
		return true
	}
	if i := strings.IndexByte(rec.URI, '?'); i >= 0 {
		eachParam(rec.URI[i+1:], visit)
	}
	if rec.SearchBody != "" {
		eachParam(rec.SearchBody, visit)
	}
	if len(ps) > maxPatients {
		ps = ps[:maxPatients]
	}
	return ps
}

// eachParam calls visit for each name=value pair of an
// application/x-www-form-urlencoded string, unescaped; pairs that do not
// unescape are skipped. It stops when visit returns false.
func eachParam(q string, visit func(name, value string) bool) {
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(name)
		value, err2 := url.QueryUnescape(value)
		if err1 != nil || err2 != nil {
			continue
		}
		if !visit(name, value) {
			return
		}
	}
}

// addRefs adds the patients of a reference parameter's value: a list of
// ids, Patient/{id} or absolute …/Patient/{id} references (with an
// optional /_history/{v}). typed requires the Patient/ form (subject=).
func addRefs(ps []patient, value string, typed bool) []patient {
	for _, v := range splitEscaped(value, ',') {
		if len(ps) >= maxPatients {
			break
		}
		v = unescape(v)
		id, ok := patientID(v, typed)
		if ok {
			ps = addPatient(ps, patient{ID: id})
		}
	}
	return ps
}

// patientID reads a patient's logical id from a reference value.
func patientID(v string, typed bool) (string, bool) {
	if i := strings.Index(v, "/_history/"); i >= 0 {
		v = v[:i]
	}
	if !strings.Contains(v, "/") {
		return v, !typed && validID(v)
	}
	v = strings.TrimSuffix(v, "/")
	i := strings.LastIndexByte(v, '/')
	id, rest := v[i+1:], v[:i]
	if !strings.HasSuffix(rest, "Patient") || (len(rest) > len("Patient") && rest[len(rest)-len("Patient")-1] != '/') {
		return "", false
	}
	return id, validID(id)
}

// addIdentifiers adds the patients of a token parameter's value: a list of
// [system|]value identifiers.
func addIdentifiers(ps []patient, value string) []patient {
	for _, v := range splitEscaped(value, ',') {
		if len(ps) >= maxPatients {
			break
		}
		parts := splitEscaped(v, '|')
		var p patient
		switch len(parts) {
		case 1:
			p.Value = unescape(parts[0])
		case 2:
			p.System, p.Value = unescape(parts[0]), unescape(parts[1])
		default:
			continue
		}
		p.Value = clean(p.Value)
		if p.Value == "" || !validURI(p.System) {
			continue
		}
		ps = addPatient(ps, p)
	}
	return ps
}

func addPatient(ps []patient, p patient) []patient {
	for _, q := range ps {
		if q == p {
			return ps
		}
	}
	return append(ps, p)
}

// splitEscaped splits s at each sep not escaped by a backslash (FHIR
// search escaping: \, \| \$ \\), keeping the escapes.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unescape removes FHIR search escaping.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// validID reports whether s is a FHIR logical id: [A-Za-z0-9\-\.]{1,64}.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validURI reports whether s can be a FHIR uri value: printable ASCII
// without whitespace (FHIR's pattern is \S*; non-ASCII is refused too,
// since an identifier system is a URI, not free text), bounded.
func validURI(s string) bool {
	if len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
