package fhirguard

import (
	"net/http"
	"strings"

	"github.com/crgate/crgate/internal/fhirreq"
)

// A profile lists what is never allowed behind one kind of upstream, on
// top of the default-deny allowlist: even a node whose scopes name
// Patient.$expunge never reaches $expunge with profile hapi on. For paths
// that are not FHIR at all (refused anyway), a profile gives the refusal
// the reason that says which surface was asked for.
type profile func(q *judged) *refusal

// judged is what a profile looks at: one request or one Bundle entry.
type judged struct {
	method string
	// path is the canonical path ("" for a Bundle entry, which is always
	// below the base).
	path  string
	query string
	in    *fhirreq.Interaction
}

var profiles = map[string]profile{
	"hapi":          hapiProfile,
	"opencr":        opencrProfile,
	"elasticsearch": elasticProfile,
}

// hapiTesterPages are the HAPI FHIR testpage overlay's pages besides "/";
// "/page" fetches arbitrary URLs (SSRF).
var hapiTesterPages = []string{
	"/home", "/about", "/conformance", "/create", "/delete", "/history-server", "/history-type",
	"/page", "/read", "/resource", "/search", "/transaction", "/update", "/validate", "/get-tags",
}

// hapiStatic are the overlay's static file trees.
var hapiStatic = []string{"/css", "/fa", "/fonts", "/img", "/js", "/resources"}

// hapiNonFHIR are the starter's other endpoints outside the FHIR base:
// Spring actuator, the MCP bridge into the data, CDS hooks, content.
var hapiNonFHIR = []string{"/actuator", "/mcp", "/sse", "/cds-services", "/content", "/web"}

// hapiBelowBase are non-FHIR endpoints the starter serves below a FHIR
// base: the OpenAPI document and Swagger UI.
var hapiBelowBase = []string{"/swagger-ui", "/api-docs"}

// dangerousOps are HAPI operations that destroy data, rewrite indexes or
// administer the server; compared ignoring case, since a case-folding
// server or interceptor might accept any spelling.
var dangerousOps = []string{
	"expunge", "delete-expunge", "reindex", "reindex-terminology", "mark-all-resources-for-reindexing",
	"perform-reindexing-pass", "invalidate-expansion", "diff", "meta-delete",
	"upload-external-code-system", "replace-references", "merge",
}

// dangerousOpPrefixes are families of such operations.
var dangerousOpPrefixes = []string{"partition-management-", "mdm-", "apply-codesystem-delta-"}

// bulkOpPrefixes are bulk data operations ($export, $export-poll-status,
// $import, $bulk-import…): whole-database reads and writes.
var bulkOpPrefixes = []string{"export", "import", "bulk-"}

// serverConfigTypes are the resource types whose writes reconfigure HAPI
// for every client, with why.
var serverConfigTypes = map[string]string{
	// rest-hook: the registry calls the endpoint it names, from its own
	// network (Elasticsearch, admin APIs, cloud metadata).
	"Subscription": "the registry would call the endpoint it names",
	// A custom or overriding search parameter changes what every node's
	// searches match (a retired built-in disables it) and starts a
	// reindex of the whole store.
	"SearchParameter": "it changes every node's searches and reindexes the store",
}

// isWrite reports the interactions that change a resource.
func isWrite(code string) bool {
	switch code {
	case fhirreq.CodeCreate, fhirreq.CodeUpdate, fhirreq.CodePatch, fhirreq.CodeDelete:
		return true
	}
	return false
}

func hapiProfile(q *judged) *refusal {
	if q.path != "" && !q.in.Valid {
		if q.path == "/" || underAnyFold(q.path, hapiTesterPages) || underAnyFold(q.path, hapiStatic) {
			return forbidden(reasonTesterUI, "the HAPI FHIR web testing UI is not served through the gateway")
		}
		if underAnyFold(q.path, hapiNonFHIR) {
			return forbidden(reasonHAPINonFHIR, "HAPI FHIR's non-FHIR endpoints are not served through the gateway")
		}
		if q.in.Base != "" && underAnyFold(q.path[len(q.in.Base):], hapiBelowBase) {
			return forbidden(reasonHAPINonFHIR, "HAPI FHIR's OpenAPI and Swagger UI are not served through the gateway")
		}
	}
	in := q.in
	if in.Code == fhirreq.CodeOperation {
		op := in.Operation
		if containsFold(dangerousOps, op) || hasPrefixFold(op, dangerousOpPrefixes) {
			return forbidden(reasonDangerousOp, "operation $"+op+" is never allowed through the gateway")
		}
		if hasPrefixFold(op, bulkOpPrefixes) {
			return forbidden(reasonBulkData, "bulk data operation $"+op+" is never allowed through the gateway")
		}
	}
	// Resources that configure the server rather than hold data:
	// writing one is never served, whatever the node's scopes.
	if why, ok := serverConfigTypes[in.ResourceType]; ok && isWrite(in.Code) {
		return forbidden(reasonDangerousOp, "writing a "+in.ResourceType+" ("+why+") is never allowed through the gateway")
	}
	// Conditional delete deletes whatever matches (every resource of the
	// type without criteria); any parameter on a DELETE is refused too,
	// since HAPI reads _cascade=delete and _expunge=true there.
	if in.Code == fhirreq.CodeDelete && (in.Conditional || q.query != "") {
		return forbidden(reasonConditionalDel, "conditional, multiple and parameterised DELETE are never allowed through the gateway")
	}
	return nil
}

// opencrAdmin are OpenCR's own routes besides its FHIR service: the UI,
// its API and the admin routes (matching, users, CSV upload, config
// writes). Express matches them ignoring case.
var opencrAdmin = []string{"/crux", "/ocrux", "/match", "/user", "/csv", "/config", "/updateConfig"}

func opencrProfile(q *judged) *refusal {
	if q.path != "" && !q.in.Valid && underAnyFold(q.path, opencrAdmin) {
		return forbidden(reasonOpenCRAdmin, "OpenCR's UI and admin routes are not served through the registry door")
	}
	return nil
}

// elasticProfile refuses Elasticsearch's REST API: every "_api" segment
// outside a FHIR base, index creation and deletion, and any parameter
// carrying a script anywhere.
func elasticProfile(q *judged) *refusal {
	if scriptParam(q.query) {
		return forbidden(reasonESScript, "parameters carrying scripts are never allowed through the gateway")
	}
	if q.path == "" || q.in.Valid || q.in.Base != "" {
		return nil
	}
	if strings.Contains(q.path, "/_") {
		return forbidden(reasonESAPI, "the Elasticsearch API is never served through the gateway")
	}
	if q.method == http.MethodPut || q.method == http.MethodDelete || q.method == http.MethodPost {
		return forbidden(reasonESAPI, "Elasticsearch index writes are never served through the gateway")
	}
	return nil
}

// scriptParam reports a query key beginning with "script" (ES script
// fields, script_fields, script queries by parameter).
func scriptParam(rawQuery string) bool {
	found := false
	_ = eachQueryKey(rawQuery, func(k string) bool {
		k = strings.TrimSpace(k)
		if len(k) >= 6 && strings.EqualFold(k[:6], "script") {
			found = true
			return false
		}
		return true
	})
	return found
}

// underAnyFold reports whether p is one of paths or lies below one of
// them, ignoring ASCII case.
func underAnyFold(p string, paths []string) bool {
	for _, pre := range paths {
		if len(p) >= len(pre) && strings.EqualFold(p[:len(pre)], pre) && (len(p) == len(pre) || p[len(pre)] == '/') {
			return true
		}
	}
	return false
}

// hasPrefixFold reports whether s begins with one of prefixes, ignoring
// ASCII case.
func hasPrefixFold(s string, prefixes []string) bool {
	for _, pre := range prefixes {
		if len(s) >= len(pre) && strings.EqualFold(s[:len(pre)], pre) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
