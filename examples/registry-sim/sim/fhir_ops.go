package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// operation answers [base]/$op, [base]/[type]/$op and
// [base]/[type]/[id]/$op. PIXm and $match on Patient are implemented; every
// other operation, the dangerous ones of DOMAIN.md included, is reported as
// executed.
func (g *Registry) operation(w http.ResponseWriter, q *fhirReq, level, typ, id, op string) {
	if typ == "Patient" && level == "type" {
		switch op {
		case "$ihe-pix":
			g.pix(w, q)
			return
		case "$match":
			g.match(w, q)
			return
		}
	}
	target := typ
	if id != "" {
		target += "/" + id
	}
	simulated(w, op, level, target)
}

func knownSystem(s string) bool {
	return s == SystemIHERed || s == SystemIHEBlue || s == SystemNationalID
}

// pix is PIXm's Get Corresponding Identifiers (ITI-83). The failure cases
// and their diagnostics are the ones ITI-83 prescribes.
func (g *Registry) pix(w http.ResponseWriter, q *fhirReq) {
	if q.method != http.MethodGet && q.method != http.MethodHead {
		methodNotAllowed(w, "GET")
		return
	}
	var (
		source  string
		nsource int
		targets []string
	)
	it := paramIter{s: q.rawQuery}
	for {
		k, v, ok, err := it.next()
		if err != nil {
			writeOO(w, http.StatusBadRequest, "error", "invalid", "invalid percent-encoding in parameters")
			return
		}
		if !ok {
			break
		}
		switch k {
		case "sourceIdentifier":
			source = v
			nsource++
		case "targetSystem":
			for t := range strings.SplitSeq(v, ",") {
				if t != "" {
					targets = append(targets, t)
				}
			}
		}
	}
	system, value, _ := strings.Cut(source, "|")
	if nsource != 1 || system == "" || value == "" {
		writeOO(w, http.StatusBadRequest, "error", "required", "exactly one sourceIdentifier=system|value is required")
		return
	}
	if !knownSystem(system) {
		writeOO(w, http.StatusBadRequest, "error", "code-invalid", "sourceIdentifier Assigning Authority not found")
		return
	}
	for _, t := range targets {
		if !knownSystem(t) {
			writeOO(w, http.StatusForbidden, "error", "code-invalid", "targetSystem not found")
			return
		}
	}
	p := g.byIdent[identKey{system, value}]
	if p == nil {
		writeOO(w, http.StatusNotFound, "error", "not-found", "sourceIdentifier Patient Identifier not found")
		return
	}

	b := []byte(`{"resourceType":"Parameters","parameter":[`)
	for _, id := range p.identifier {
		if len(targets) == 0 && id.System == system || len(targets) > 0 && !slices.Contains(targets, id.System) {
			continue
		}
		b = append(b, `{"name":"targetIdentifier","valueIdentifier":{"system":`...)
		b = appendJSONString(b, id.System)
		b = append(b, `,"value":`...)
		b = appendJSONString(b, id.Value)
		b = append(b, `}},`...)
	}
	b = append(b, `{"name":"targetId","valueReference":{"reference":"`...)
	b = appendBaseURL(b, q)
	b = append(b, "/Patient/"...)
	b = append(b, p.id...)
	b = append(b, `"}}]}`...)
	writeBytes(w, http.StatusOK, ctFHIR, b)
}

// match is Patient/$match: a deterministic, explainable score instead of
// OpenCR's real decision rules, enough to see candidates come back.
func (g *Registry) match(w http.ResponseWriter, q *fhirReq) {
	if q.method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return
	}
	var in struct {
		ResourceType string `json:"resourceType"`
		Parameter    []struct {
			Name         string          `json:"name"`
			Resource     json.RawMessage `json:"resource"`
			ValueInteger *int            `json:"valueInteger"`
			ValueBoolean *bool           `json:"valueBoolean"`
		} `json:"parameter"`
	}
	if err := json.Unmarshal(q.body, &in); err != nil {
		writeOO(w, http.StatusBadRequest, "error", "structure", "HAPI-0450: Failed to parse request body as JSON resource: "+err.Error())
		return
	}
	var (
		pt          fhirPatient
		havePatient bool
		count       = defaultCount
		onlyCertain bool
	)
	switch in.ResourceType {
	case "Parameters":
		for _, prm := range in.Parameter {
			switch prm.Name {
			case "resource":
				havePatient = json.Unmarshal(prm.Resource, &pt) == nil && pt.ResourceType == "Patient"
			case "count":
				if prm.ValueInteger != nil && *prm.ValueInteger > 0 {
					count = min(*prm.ValueInteger, maxCount)
				}
			case "onlyCertainMatches":
				onlyCertain = prm.ValueBoolean != nil && *prm.ValueBoolean
			}
		}
	case "Patient":
		havePatient = json.Unmarshal(q.body, &pt) == nil
	}
	if !havePatient {
		writeOO(w, http.StatusBadRequest, "error", "invalid", "HAPI-1503: $match needs a Parameters resource whose \"resource\" parameter is a Patient")
		return
	}

	type candidate struct {
		p     *patient
		score int // hundredths
	}
	var cands []candidate
	for _, p := range g.patients {
		s := matchScore(&pt, p)
		if s < 50 || onlyCertain && s < 95 {
			continue
		}
		cands = append(cands, candidate{p, s})
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return b.score - a.score })
	total := len(cands)
	cands = cands[:min(count, len(cands))]

	bp := getBuf()
	b := g.appendBundleHead(*bp, "searchset", total)
	b = append(b, `,"link":[{"relation":"self","url":"`...)
	b = appendBaseURL(b, q)
	b = append(b, `/Patient/$match"}]`...)
	if len(cands) > 0 {
		b = append(b, `,"entry":[`...)
		for i, c := range cands {
			if i > 0 {
				b = append(b, ',')
			}
			grade := "possible"
			switch {
			case c.score >= 95:
				grade = "certain"
			case c.score >= 80:
				grade = "probable"
			}
			b = append(b, `{"fullUrl":"`...)
			b = appendBaseURL(b, q)
			b = append(b, "/Patient/"...)
			b = append(b, c.p.id...)
			b = append(b, `","resource":`...)
			b = append(b, c.p.current().json...)
			b = append(b, `,"search":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/match-grade","valueCode":"`...)
			b = append(b, grade...)
			b = append(b, `"}],"mode":"match","score":`...)
			b = strconv.AppendFloat(b, float64(c.score)/100, 'f', -1, 64)
			b = append(b, `}}`...)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	writeBytes(w, http.StatusOK, ctFHIR, b)
	*bp = b
	putBuf(bp)
}

// matchScore scores in hundredths: a shared identifier is certain (1.0);
// otherwise family 30, a given name 20, birth date 30, sex 10, so that
// demographics alone reach "probable" at best, as in OpenCR's own rules.
func matchScore(in *fhirPatient, p *patient) int {
	for _, a := range in.Identifier {
		for _, b := range p.identifier {
			if a.Value != "" && a.System == b.System && a.Value == b.Value {
				return 100
			}
		}
	}
	s := 0
	if len(in.Name) > 0 {
		n := in.Name[0]
		if n.Family != "" && foldString(n.Family) == p.family {
			s += 30
		}
	givens:
		for _, g := range n.Given {
			for _, pg := range p.givens {
				if foldString(g) == pg {
					s += 20
					break givens
				}
			}
		}
	}
	if in.BirthDate != "" && in.BirthDate == p.birthDate {
		s += 30
	}
	if in.Gender != "" && in.Gender == p.gender {
		s += 10
	}
	return s
}

// parseResourceBody reads a create or update body, keeping each element's
// JSON as sent.
func parseResourceBody(body []byte, typ string) (map[string]json.RawMessage, string) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, "HAPI-0450: No body was supplied in request"
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, "HAPI-0450: Failed to parse request body as JSON resource: " + err.Error()
	}
	var rt string
	_ = json.Unmarshal(fields["resourceType"], &rt)
	if rt != typ {
		return nil, "HAPI-0450: Incorrect resource type found, expected \"" + typ + "\" but found \"" + rt + "\""
	}
	return fields, ""
}

func (g *Registry) create(w http.ResponseWriter, q *fhirReq, typ string) {
	fields, msg := parseResourceBody(q.body, typ)
	if msg != "" {
		writeOO(w, http.StatusBadRequest, "error", "structure", msg)
		return
	}
	id := strconv.FormatInt(g.nextID.Add(1), 10)
	writeStored(w, q, typ, id, 1, http.StatusCreated, fields)
}

// update accepts the resource but stores nothing: the population is
// immutable so every read stays precomputed and every run deterministic.
func (g *Registry) update(w http.ResponseWriter, q *fhirReq, typ, id string) {
	fields, msg := parseResourceBody(q.body, typ)
	if msg != "" {
		writeOO(w, http.StatusBadRequest, "error", "structure", msg)
		return
	}
	var bodyID string
	if raw, ok := fields["id"]; ok {
		_ = json.Unmarshal(raw, &bodyID)
	}
	if bodyID != "" && bodyID != id {
		writeOO(w, http.StatusBadRequest, "error", "processing",
			"HAPI-0420: Can not update resource, resource body must contain an ID element which matches the request URL. Found URL ID \""+id+"\" but resource body ID \""+bodyID+"\"")
		return
	}
	if p := g.lookup(typ, id); p != nil {
		writeStored(w, q, typ, id, len(p.versions)+1, http.StatusOK, fields)
		return
	}
	writeStored(w, q, typ, id, 1, http.StatusCreated, fields)
}

func writeStored(w http.ResponseWriter, q *fhirReq, typ, id string, version, status int, fields map[string]json.RawMessage) {
	at := now().UTC()
	vid := strconv.Itoa(version)
	b := renderResource(typ, id, vid, at.Format(fhirInstant), fields)
	h := w.Header()
	loc := q.baseURL() + "/" + typ + "/" + id + "/_history/" + vid
	if status == http.StatusCreated {
		h.Set("Location", loc)
	}
	h.Set("Content-Location", loc)
	h.Set("Etag", `W/"`+vid+`"`)
	h.Set("Last-Modified", at.Format(http.TimeFormat))
	writeBytes(w, status, ctFHIR, b)
}

// renderResource writes resourceType, id and meta first, as HAPI does, then
// the client's other elements in name order.
func renderResource(typ, id, vid, lastUpdated string, fields map[string]json.RawMessage) []byte {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if k != "resourceType" && k != "id" && k != "meta" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	buf.WriteString(`{"resourceType":`)
	buf.Write(appendJSONString(nil, typ))
	buf.WriteString(`,"id":`)
	buf.Write(appendJSONString(nil, id))
	buf.WriteString(`,"meta":{"versionId":`)
	buf.Write(appendJSONString(nil, vid))
	buf.WriteString(`,"lastUpdated":`)
	buf.Write(appendJSONString(nil, lastUpdated))
	buf.WriteByte('}')
	for _, k := range keys {
		buf.WriteByte(',')
		buf.Write(appendJSONString(nil, k))
		buf.WriteByte(':')
		if err := json.Compact(&buf, fields[k]); err != nil {
			buf.WriteString("null")
		}
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// bundle answers POST [base] with a batch or transaction Bundle. Each entry
// runs through the same FHIR code as a top-level request, so a dangerous
// operation smuggled into an entry is "executed" and reported in the
// response just as it would be on its own.
func (g *Registry) bundle(w http.ResponseWriter, q *fhirReq) {
	var in struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
			Request  *struct {
				Method string `json:"method"`
				URL    string `json:"url"`
			} `json:"request"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(q.body, &in); err != nil {
		writeOO(w, http.StatusBadRequest, "error", "structure", "HAPI-0450: Failed to parse request body as JSON resource")
		return
	}
	if in.ResourceType != "Bundle" {
		writeOO(w, http.StatusBadRequest, "error", "processing",
			"HAPI-0339: Unable to process request, this server does not know how to handle resources of type "+in.ResourceType+" - Can only handle [Bundle]")
		return
	}
	if in.Type != "batch" && in.Type != "transaction" {
		writeOO(w, http.StatusBadRequest, "error", "processing", "HAPI-0527: Unable to process bundle of type: "+in.Type)
		return
	}

	type result struct {
		status int
		header http.Header
		body   []byte
		get    bool
	}
	results := make([]result, len(in.Entry))
	for i, e := range in.Entry {
		mw := &memWriter{h: make(http.Header)}
		if e.Request == nil || e.Request.Method == "" || e.Request.URL == "" {
			writeOO(mw, http.StatusBadRequest, "error", "invalid", "HAPI-0527: entry "+strconv.Itoa(i)+" has no request.method or request.url")
		} else {
			sub := fhirReq{
				method:   strings.ToUpper(e.Request.Method),
				host:     q.host,
				base:     q.base,
				body:     e.Resource,
				ctype:    "application/fhir+json",
				inBundle: true,
			}
			if u, err := url.Parse(e.Request.URL); err != nil {
				writeOO(mw, http.StatusBadRequest, "error", "invalid", "HAPI-0527: entry "+strconv.Itoa(i)+" has an invalid request.url")
			} else {
				sub.rest, sub.rawQuery = entryPath(u), u.RawQuery
				g.fhir(mw, &sub)
			}
		}
		results[i] = result{mw.code(), mw.h, mw.buf.Bytes(), e.Request != nil && strings.EqualFold(e.Request.Method, "GET")}
		if in.Type == "transaction" && results[i].status >= 400 {
			// A transaction is all or nothing: HAPI rolls back and answers
			// with the failing entry's error.
			writeOO(w, results[i].status, "error", "processing",
				"HAPI-0535: Transaction failed at entry "+strconv.Itoa(i)+" with status "+strconv.Itoa(results[i].status)+": "+ooDiagnostics(results[i].body))
			return
		}
	}

	bp := getBuf()
	b := g.appendBundleHead(*bp, in.Type+"-response", -1)
	b = append(b, `,"link":[{"relation":"self","url":"`...)
	b = appendBaseURL(b, q)
	b = append(b, `"}]`...)
	if len(results) > 0 {
		b = append(b, `,"entry":[`...)
		prefix := q.baseURL() + "/"
		for i, r := range results {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			isOO := bytes.HasPrefix(r.body, []byte(`{"resourceType":"OperationOutcome"`))
			if r.get && !isOO && len(r.body) > 0 {
				b = append(b, `"resource":`...)
				b = append(b, r.body...)
				b = append(b, ',')
			}
			b = append(b, `"response":{"status":"`...)
			b = strconv.AppendInt(b, int64(r.status), 10)
			b = append(b, ' ')
			b = append(b, http.StatusText(r.status)...)
			b = append(b, '"')
			if loc := r.header.Get("Location"); loc != "" {
				b = append(b, `,"location":`...)
				b = appendJSONString(b, strings.TrimPrefix(loc, prefix))
			}
			if et := r.header.Get("Etag"); et != "" {
				b = append(b, `,"etag":`...)
				b = appendJSONString(b, et)
			}
			if lm, err := http.ParseTime(r.header.Get("Last-Modified")); err == nil {
				b = append(b, `,"lastModified":"`...)
				b = lm.UTC().AppendFormat(b, fhirInstant)
				b = append(b, '"')
			}
			if isOO {
				b = append(b, `,"outcome":`...)
				b = append(b, r.body...)
			}
			b = append(b, `}}`...)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	writeBytes(w, http.StatusOK, ctFHIR, b)
	*bp = b
	putBuf(bp)
}

// ooDiagnostics extracts the first issue's diagnostics from an
// OperationOutcome.
func ooDiagnostics(body []byte) string {
	var oo struct {
		Issue []struct {
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || len(oo.Issue) == 0 {
		return "(no diagnostics)"
	}
	return oo.Issue[0].Diagnostics
}

// entryPath turns an entry's request.url into a path below the base. It is
// normally relative ("Patient/p-0001"); an absolute URL, or one that
// repeats a base path, is reduced to what follows the base.
func entryPath(u *url.URL) string {
	p := "/" + strings.TrimPrefix(u.Path, "/")
	if _, rest, ok := fhirBase(p); ok {
		return rest
	}
	if p == "/" {
		return ""
	}
	return p
}

// memWriter captures a batch entry's response.
type memWriter struct {
	h      http.Header
	status int
	buf    bytes.Buffer
}

func (m *memWriter) Header() http.Header { return m.h }

func (m *memWriter) WriteHeader(status int) {
	if m.status == 0 {
		m.status = status
	}
}

func (m *memWriter) Write(p []byte) (int, error) {
	if m.status == 0 {
		m.status = http.StatusOK
	}
	return m.buf.Write(p)
}

func (m *memWriter) code() int {
	if m.status == 0 {
		return http.StatusOK
	}
	return m.status
}

// capabilityStatement is the precomputed answer to GET [base]/metadata.
func capabilityStatement() []byte {
	const cs = `{
 "resourceType": "CapabilityStatement",
 "id": "registry-sim",
 "name": "RegistrySim",
 "status": "active",
 "date": "2025-01-01T00:00:00+00:00",
 "publisher": "crgate registry-sim",
 "kind": "instance",
 "software": {"name": "HAPI FHIR Server (simulated by crgate registry-sim)", "version": "8.4.0"},
 "implementation": {"description": "Simulated OpenCR / HAPI FHIR JPA server"},
 "fhirVersion": "4.0.1",
 "format": ["application/fhir+json", "json"],
 "rest": [{
  "mode": "server",
  "resource": [{
   "type": "Patient",
   "profile": "http://hl7.org/fhir/StructureDefinition/Patient",
   "interaction": [
    {"code": "read"}, {"code": "vread"}, {"code": "update"}, {"code": "patch"},
    {"code": "delete"}, {"code": "history-instance"}, {"code": "history-type"},
    {"code": "create"}, {"code": "search-type"}
   ],
   "versioning": "versioned",
   "searchParam": [
    {"name": "_id", "type": "token"},
    {"name": "family", "type": "string"},
    {"name": "given", "type": "string"},
    {"name": "name", "type": "string"},
    {"name": "gender", "type": "token"},
    {"name": "birthdate", "type": "date"},
    {"name": "identifier", "type": "token"}
   ],
   "operation": [
    {"name": "ihe-pix", "definition": "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix"},
    {"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match"}
   ]
  }],
  "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}]
 }]
}`
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(cs)); err != nil {
		// The literal above is fixed; a failure here is a programming error
		// that every test would catch.
		return []byte(cs)
	}
	return buf.Bytes()
}
