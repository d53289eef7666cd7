package sim

import (
	"net/http"
	"strconv"
	"strings"
)

// fhirBases are the FHIR service roots OpenCR installs use. The longest
// come first so "/hapi/fhir" is not mistaken for "/hapi" + "/fhir".
var fhirBases = [...]string{"/hapi-fhir-jpaserver/fhir", "/hapi/fhir", "/baseR4", "/fhir"}

// fhirBase splits a container path into a FHIR base and the rest ("" or
// starting with "/").
func fhirBase(p string) (base, rest string, ok bool) {
	for _, b := range fhirBases {
		if hasPathPrefix(p, b) {
			return b, p[len(b):], true
		}
	}
	return "", "", false
}

// fhirReq is a FHIR interaction, detached from *http.Request so that the
// entries of a batch or transaction Bundle run through the same code as
// top-level requests.
type fhirReq struct {
	method   string
	host     string
	base     string // as routed, e.g. "/hapi/fhir"
	rest     string // path below base: "", "/Patient", "/Patient/p-0001/_history/2"
	rawQuery string
	body     []byte
	ctype    string
	inBundle bool
}

// appendBaseURL appends the service base URL, JSON-escaped and without
// quotes. Like HAPI without a fixed server_address, it is built from the
// Host the request carried.
func appendBaseURL(b []byte, q *fhirReq) []byte {
	b = append(b, "http://"...)
	b = appendEscaped(b, q.host)
	return appendEscaped(b, q.base)
}

func (q *fhirReq) baseURL() string { return "http://" + q.host + q.base }

const maxSegs = 6

// splitSegs splits rest ("/a/b/c") into segs and returns how many there
// were, or -1 when there are more than fit.
func splitSegs(rest string, segs *[maxSegs]string) int {
	n := 0
	for rest != "" {
		rest = rest[1:] // the leading '/'
		var seg string
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, rest = rest[:i], rest[i:]
		} else {
			seg, rest = rest, ""
		}
		if n == maxSegs {
			return -1
		}
		segs[n] = seg
		n++
	}
	return n
}

func isOp(s string) bool { return len(s) > 1 && s[0] == '$' }

// validType accepts what could be a FHIR resource type name. The simulator
// does not keep the list of R4 types: any such name gets an empty search or
// a 404 read, so the gateway's allowlist is what decides.
func validType(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// validID is the FHIR id syntax.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// fhir answers one FHIR interaction.
func (g *Registry) fhir(w http.ResponseWriter, q *fhirReq) {
	w.Header()["X-Powered-By"] = poweredHAPI
	method := q.method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	var segs [maxSegs]string
	n := splitSegs(q.rest, &segs)
	if n < 0 {
		writeOO(w, http.StatusBadRequest, "error", "processing", "Invalid request: too many path segments")
		return
	}
	if n == 0 {
		g.fhirSystem(w, q, method)
		return
	}
	s0 := segs[0]
	switch {
	case isOp(s0):
		if n == 1 {
			g.operation(w, q, "system", "", "", s0)
			return
		}
	case s0 == "metadata":
		if n == 1 {
			if method != http.MethodGet {
				methodNotAllowed(w, "GET")
				return
			}
			h := w.Header()
			h["Content-Length"] = g.capLen
			h["Content-Type"] = ctFHIR
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(g.capStmt)
			return
		}
	case s0 == "_history":
		if n == 1 {
			if method != http.MethodGet {
				methodNotAllowed(w, "GET")
				return
			}
			g.history(w, q, "", "")
			return
		}
	case s0 == "_search":
		if n == 1 {
			g.emptySearch(w, q, "")
			return
		}
	case !validType(s0):
		writeOO(w, http.StatusNotFound, "error", "not-supported",
			"HAPI-0302: Unknown resource type '"+s0+"' - Server knows how to handle: [Patient, ...]")
		return
	}
	if !validType(s0) {
		writeOO(w, http.StatusBadRequest, "error", "processing", "Invalid request: "+q.method+" "+q.rest)
		return
	}
	typ := s0
	if n == 1 {
		g.fhirType(w, q, method, typ)
		return
	}
	s1 := segs[1]
	if n == 2 {
		switch {
		case isOp(s1):
			g.operation(w, q, "type", typ, "", s1)
		case s1 == "_search":
			if method != http.MethodGet && method != http.MethodPost {
				methodNotAllowed(w, "GET, POST")
				return
			}
			params := q.rawQuery
			if method == http.MethodPost && len(q.body) > 0 {
				params = joinParams(params, string(q.body))
			}
			g.search(w, q, typ, params)
		case s1 == "_history":
			if method != http.MethodGet {
				methodNotAllowed(w, "GET")
				return
			}
			g.history(w, q, typ, "")
		case !validID(s1):
			writeOO(w, http.StatusBadRequest, "error", "processing", "HAPI-0520: Invalid resource ID: "+s1)
		default:
			g.fhirInstance(w, q, method, typ, s1)
		}
		return
	}
	id := s1
	if !validID(id) {
		writeOO(w, http.StatusBadRequest, "error", "processing", "HAPI-0520: Invalid resource ID: "+id)
		return
	}
	switch {
	case n == 3 && isOp(segs[2]):
		g.operation(w, q, "instance", typ, id, segs[2])
		return
	case n == 3 && segs[2] == "_history":
		if method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		g.history(w, q, typ, id)
		return
	case n == 4 && segs[2] == "_history":
		if method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		g.vread(w, typ, id, segs[3])
		return
	case n == 5 && segs[2] == "_history" && isOp(segs[4]):
		g.operation(w, q, "version", typ, id+"/_history/"+segs[3], segs[4])
		return
	}
	writeOO(w, http.StatusBadRequest, "error", "processing", "Invalid request: "+q.method+" "+q.rest)
}

func joinParams(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "&" + b
}

// fhirSystem answers requests on the base itself.
func (g *Registry) fhirSystem(w http.ResponseWriter, q *fhirReq, method string) {
	switch method {
	case http.MethodPost:
		if q.inBundle {
			writeOO(w, http.StatusBadRequest, "error", "not-supported", "Bundles nested in a batch or transaction are not supported")
			return
		}
		g.bundle(w, q)
	case http.MethodGet:
		if q.rawQuery != "" {
			g.emptySearch(w, q, "")
			return
		}
		writeOO(w, http.StatusBadRequest, "error", "processing",
			"HAPI-0302: This is the base URL of FHIR server. Unable to handle this request, as it does not contain a resource type or operation name.")
	default:
		methodNotAllowed(w, "GET, POST")
	}
}

// fhirType answers requests on [base]/[type].
func (g *Registry) fhirType(w http.ResponseWriter, q *fhirReq, method, typ string) {
	switch method {
	case http.MethodGet:
		g.search(w, q, typ, q.rawQuery)
	case http.MethodPost:
		g.create(w, q, typ)
	case http.MethodPut:
		// A conditional update. Nothing is stored, so it always creates.
		if q.rawQuery == "" {
			writeOO(w, http.StatusBadRequest, "error", "processing", "HAPI-0419: Can not update resource of type "+typ+" as it has no ID")
			return
		}
		g.create(w, q, typ)
	case http.MethodDelete, http.MethodPatch:
		// Conditional and multiple deletes are on DOMAIN.md's dangerous
		// list: say plainly that one got through.
		what := "conditional delete"
		if method == http.MethodPatch {
			what = "conditional patch"
		}
		simulated(w, what, "type", typ+"?"+q.rawQuery)
	default:
		methodNotAllowed(w, "GET, POST, PUT, PATCH, DELETE")
	}
}

// fhirInstance answers requests on [base]/[type]/[id].
func (g *Registry) fhirInstance(w http.ResponseWriter, q *fhirReq, method, typ, id string) {
	switch method {
	case http.MethodGet:
		g.read(w, typ, id)
	case http.MethodPut:
		g.update(w, q, typ, id)
	case http.MethodPatch:
		p := g.lookup(typ, id)
		if p == nil {
			notKnown(w, typ, id)
			return
		}
		writeVersion(w, http.StatusOK, p.current())
	case http.MethodDelete:
		writeOO(w, http.StatusOK, "information", "informational", "Successfully deleted 1 resource(s) ("+typ+"/"+id+")")
	default:
		methodNotAllowed(w, "GET, PUT, PATCH, DELETE")
	}
}

func (g *Registry) lookup(typ, id string) *patient {
	if typ != "Patient" {
		return nil
	}
	return g.byID[id]
}

func notKnown(w http.ResponseWriter, typ, id string) {
	writeOO(w, http.StatusNotFound, "error", "processing", "HAPI-2001: Resource "+typ+"/"+id+" is not known")
}

func (g *Registry) read(w http.ResponseWriter, typ, id string) {
	p := g.lookup(typ, id)
	if p == nil {
		notKnown(w, typ, id)
		return
	}
	writeVersion(w, http.StatusOK, p.current())
}

func (g *Registry) vread(w http.ResponseWriter, typ, id, vid string) {
	p := g.lookup(typ, id)
	if p == nil {
		notKnown(w, typ, id)
		return
	}
	v, err := strconv.Atoi(vid)
	if err != nil || v < 1 || v > len(p.versions) {
		writeOO(w, http.StatusNotFound, "error", "processing",
			"HAPI-0979: Version \""+vid+"\" is not valid for resource "+typ+"/"+id)
		return
	}
	writeVersion(w, http.StatusOK, &p.versions[v-1])
}

// writeVersion answers with a precomputed resource: no allocation beyond
// what net/http itself does.
func writeVersion(w http.ResponseWriter, status int, v *patientVersion) {
	h := w.Header()
	h["Content-Type"] = ctFHIR
	h["Content-Length"] = v.contentLength
	h["Etag"] = v.etag
	h["Last-Modified"] = v.lastModified
	w.WriteHeader(status)
	_, _ = w.Write(v.json)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeOO(w, http.StatusMethodNotAllowed, "error", "processing", "HAPI-0432: Method not allowed; allowed: "+allow)
}

// simulated answers an operation the simulator does not implement. A real
// HAPI would have done something irreversible here; the diagnostics make
// it obvious to a test that the request got through.
func simulated(w http.ResponseWriter, op, level, target string) {
	w.Header().Set("X-Registry-Sim-Operation", op)
	diag := "simulated " + op + " executed at " + level + " level"
	if target != "" {
		diag += " on " + target
	}
	writeOO(w, http.StatusOK, "information", "informational", diag)
}
