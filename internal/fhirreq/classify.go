package fhirreq

import (
	"net/http"
	"strings"

	"github.com/crgate/crgate/internal/scope"
)

// Interaction codes (http://hl7.org/fhir/restful-interaction), plus the
// provisional CodeBatchOrTransaction.
const (
	CodeRead            = "read"
	CodeVRead           = "vread"
	CodeUpdate          = "update"
	CodePatch           = "patch"
	CodeDelete          = "delete"
	CodeHistoryInstance = "history-instance"
	CodeHistoryType     = "history-type"
	CodeHistorySystem   = "history-system"
	CodeCreate          = "create"
	CodeSearchType      = "search-type"
	CodeSearchSystem    = "search-system"
	CodeCapabilities    = "capabilities"
	CodeOperation       = "operation"
	CodeBatch           = "batch"
	CodeTransaction     = "transaction"
	// CodeBatchOrTransaction is POST [base]: whether it is a batch or a
	// transaction is known only from the Bundle in the body, which
	// fhir_guard reads and then sets CodeBatch or CodeTransaction.
	CodeBatchOrTransaction = "batch-or-transaction"
	// CodeSearchCompartment is a compartment search, GET
	// [base]/Patient/[id]/[type]: restful-interaction calls it
	// search-type, with Compartment naming the type searched.
	CodeSearchCompartment = CodeSearchType
)

// compartments are the R4 resource types that define compartments.
var compartments = map[string]bool{
	"Patient": true, "Encounter": true, "RelatedPerson": true, "Practitioner": true, "Device": true,
}

// Base returns the longest of bases that canonicalPath equals or lies
// below (whole segments only: "/fhirx" is not below "/fhir"), and the rest
// of the path ("" or "/…").
func Base(canonicalPath string, bases []string) (base, rest string, ok bool) {
	for _, b := range bases {
		if len(b) <= len(base) || !strings.HasPrefix(canonicalPath, b) {
			continue
		}
		if len(canonicalPath) == len(b) || canonicalPath[len(b)] == '/' {
			base, rest, ok = b, canonicalPath[len(b):], true
		}
	}
	return base, rest, ok
}

// Classify reads a canonical path (from Canonicalize) and its method and
// raw query as a FHIR RESTful interaction under one of bases. HEAD is read
// as GET (same answer without the body). Anything else that is not a FHIR
// R4 interaction comes back with Valid false and Why set. rawQuery does not
// change the classification today (conditional forms follow from method and
// path: PUT/PATCH/DELETE on a type); it is taken so that a rule that needs
// it does not change every caller.
func Classify(method, canonicalPath, rawQuery string, bases []string) Interaction {
	base, rest, ok := Base(canonicalPath, bases)
	if !ok {
		return Interaction{Why: "not below a FHIR base path"}
	}
	in := ClassifyRelative(method, rest, rawQuery)
	in.Base = base
	return in
}

// ClassifyRelative classifies rest, the canonical path below a FHIR base
// ("" for the base itself, else "/…"), e.g. a Bundle entry's request.url.
func ClassifyRelative(method, rest, rawQuery string) Interaction {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	var segs [5]string
	n := 0
	for rest != "" {
		if n == len(segs) {
			return Interaction{Why: "too many path segments"}
		}
		rest = rest[1:] // the '/'
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			segs[n], rest = rest[:i], rest[i:]
		} else {
			segs[n], rest = rest, ""
		}
		n++
	}
	switch n {
	case 0:
		return classifyBase(method)
	case 1:
		return classifyOne(method, segs[0])
	}
	typ := segs[0]
	if !scope.IsResourceType(typ) {
		return Interaction{Why: "unknown resource type"}
	}
	if n == 2 {
		return classifyType(method, typ, segs[1])
	}
	id := segs[1]
	if !ValidID(id) {
		return Interaction{Why: "invalid resource id"}
	}
	switch {
	case n == 3 && segs[2] == "_history" && method == http.MethodGet:
		return Interaction{Valid: true, Code: CodeHistoryInstance, ResourceType: typ, ID: id}
	case n == 3 && isOperation(segs[2]) && getOrPost(method):
		return Interaction{Valid: true, Code: CodeOperation, ResourceType: typ, ID: id, Operation: segs[2][1:]}
	case n == 3 && compartments[typ] && scope.IsResourceType(segs[2]) && method == http.MethodGet:
		return Interaction{Valid: true, Code: CodeSearchCompartment, ResourceType: typ, ID: id, Compartment: segs[2]}
	case n == 4 && segs[2] == "_history" && ValidID(segs[3]) && method == http.MethodGet:
		return Interaction{Valid: true, Code: CodeVRead, ResourceType: typ, ID: id, VersionID: segs[3]}
	}
	return Interaction{Why: "no FHIR interaction has this method and path"}
}

func classifyBase(method string) Interaction {
	switch method {
	case http.MethodGet:
		return Interaction{Valid: true, Code: CodeSearchSystem}
	case http.MethodPost:
		return Interaction{Valid: true, Code: CodeBatchOrTransaction}
	}
	return Interaction{Why: "no FHIR interaction has this method on the base"}
}

// classifyOne is [base]/x: metadata, _history, _search, $op or a type.
func classifyOne(method, s string) Interaction {
	switch {
	case s == "metadata" && method == http.MethodGet:
		return Interaction{Valid: true, Code: CodeCapabilities}
	case s == "_history" && method == http.MethodGet:
		return Interaction{Valid: true, Code: CodeHistorySystem}
	case s == "_search" && getOrPost(method):
		return Interaction{Valid: true, Code: CodeSearchSystem}
	case isOperation(s) && getOrPost(method):
		return Interaction{Valid: true, Code: CodeOperation, Operation: s[1:]}
	case !scope.IsResourceType(s):
		return Interaction{Why: "unknown resource type"}
	}
	switch method {
	case http.MethodGet:
		return Interaction{Valid: true, Code: CodeSearchType, ResourceType: s}
	case http.MethodPost:
		return Interaction{Valid: true, Code: CodeCreate, ResourceType: s}
	// Conditional update, patch and delete: the query picks the target
	// (without one, every resource of the type).
	case http.MethodPut:
		return Interaction{Valid: true, Code: CodeUpdate, ResourceType: s, Conditional: true}
	case http.MethodPatch:
		return Interaction{Valid: true, Code: CodePatch, ResourceType: s, Conditional: true}
	case http.MethodDelete:
		return Interaction{Valid: true, Code: CodeDelete, ResourceType: s, Conditional: true}
	}
	return Interaction{Why: "no FHIR interaction has this method on a type"}
}

// classifyType is [base]/Type/x: _search, _history, $op or an id.
func classifyType(method, typ, s string) Interaction {
	switch {
	case s == "_search" && getOrPost(method):
		return Interaction{Valid: true, Code: CodeSearchType, ResourceType: typ}
	case s == "_history" && method == http.MethodGet:
		return Interaction{Valid: true, Code: CodeHistoryType, ResourceType: typ}
	case isOperation(s) && getOrPost(method):
		return Interaction{Valid: true, Code: CodeOperation, ResourceType: typ, Operation: s[1:]}
	case !ValidID(s):
		return Interaction{Why: "invalid resource id"}
	}
	code := ""
	switch method {
	case http.MethodGet:
		code = CodeRead
	case http.MethodPut:
		code = CodeUpdate
	case http.MethodPatch:
		code = CodePatch
	case http.MethodDelete:
		code = CodeDelete
	default:
		return Interaction{Why: "no FHIR interaction has this method on an instance"}
	}
	return Interaction{Valid: true, Code: code, ResourceType: typ, ID: s}
}

func getOrPost(m string) bool { return m == http.MethodGet || m == http.MethodPost }

// isOperation accepts "$name" with FHIR's operation name syntax: a letter,
// then letters, digits, '-' and '_'.
func isOperation(s string) bool {
	if len(s) < 2 || len(s) > 65 || s[0] != '$' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 1 && ('0' <= c && c <= '9' || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return true
}

// ValidID is FHIR's id syntax: [A-Za-z0-9\-\.]{1,64}.
func ValidID(s string) bool {
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
