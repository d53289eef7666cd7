package fhirguard

import (
	"strings"

	"github.com/crgate/crgate/internal/fhirreq"
	"github.com/crgate/crgate/internal/scope"
)

// checkSearchReach refuses search parameters that return or reveal
// resources of another type than the one searched, unless the node may
// search that type too:
//
//	_include=Src:param:Target     Target.search  (no Target, or '*': refused,
//	                                              the server would pick the types)
//	_revinclude=Src:param[:Tgt]   Src.search
//	_has:Type:ref:param=…         Type.search    (reveals whether Type matches)
//
// Modifiers (_include:iterate, :recurse) count the same. A _has is judged
// wherever the name has one: nested (_has:A:r:_has:B:r:p, which HAPI
// follows to B) and at the end of a chain (org._has:B:r:p). Chained
// parameters themselves (subject:Patient.name=…) are not judged; see
// docs/fhir_guard.md.
func checkSearchReach(set scope.Set, rawParams string) *refusal {
	var ref *refusal
	reaches := func(name, typ string) bool {
		if typ == "*" || !scope.IsResourceType(typ) {
			ref = forbidden(reasonSearchReach, name+" must name an R4 resource type")
			return false
		}
		if !set.Allows(typ, "search") {
			ref = forbidden(reasonSearchReach, name+" reaches "+typ+": this node's scopes do not include "+typ+".search")
			return false
		}
		return true
	}
	err := eachParam(rawParams, true, func(k, v string) bool {
		// Judged as checkParams judges _method: a name a server might
		// trim is judged trimmed.
		k = strings.TrimSpace(k)
		name, _, _ := strings.Cut(k, ":")
		switch name {
		case "_include":
			parts := strings.Split(v, ":")
			if len(parts) != 3 || parts[2] == "*" {
				ref = forbidden(reasonSearchReach, "_include must name its target type (Source:param:Target)")
				return false
			}
			return reaches(name, parts[2])
		case "_revinclude":
			src, _, _ := strings.Cut(v, ":")
			return reaches(name, src)
		}
		return eachHas(k, func(typ string, ok bool) bool {
			if !ok {
				ref = forbidden(reasonSearchReach, "malformed _has parameter")
				return false
			}
			return reaches("_has", typ)
		})
	})
	if err != nil {
		return badRequest(reasonBadQuery, err.Error())
	}
	return ref
}

// eachHas calls fn with the type of every _has in the parameter name k:
// "_has" at the start of the name or right after a '.' or ':' begins
// _has:Type:ref:… . ok is false for a _has without its type, reference
// and a parameter after it. It stops when fn returns false.
func eachHas(k string, fn func(typ string, ok bool) bool) bool {
	const has = "_has"
	for i := 0; ; {
		j := strings.Index(k[i:], has)
		if j < 0 {
			return true
		}
		at := i + j
		i = at + len(has)
		if at > 0 && k[at-1] != '.' && k[at-1] != ':' {
			continue
		}
		if i < len(k) && k[i] != ':' {
			continue // a longer name, such as _hash
		}
		// _has:Type:ref:param needs three more ':'-separated parts.
		parts := strings.SplitN(k[i:], ":", 5)
		if len(parts) < 4 || parts[1] == "" || parts[2] == "" || parts[3] == "" {
			return fn("", false)
		}
		if !fn(parts[1], true) {
			return false
		}
	}
}

// pagingParam is HAPI's paging parameter: [base]?_getpages=<search id>
// is a further page of an earlier search, which is what HAPI's next and
// previous links are.
const pagingParam = "_getpages"

// checkPaging refuses the n _getpages parameters of a request anywhere
// but once in the query of GET or HEAD [base], where the scope check then
// asks for system.search. HAPI answers a _getpages request on any path,
// by any method it accepts and from a form body too, with the page of
// whichever search the id names: the path and the type it names say
// nothing about what comes back, so judging them as a search of that type
// would let Patient.search page through an Observation search. A Bundle
// entry and a search form are judged with path "", so paging is never
// accepted there. checkParams counts the names ignoring case, so that no
// spelling a server might fold to it is judged as something else.
func checkPaging(q *judged, n int) *refusal {
	switch {
	case n > 1:
		return badRequest(reasonPaging, pagingParam+" is given more than once")
	case q.in.Code != fhirreq.CodeSearchSystem || q.path != q.in.Base: // GET or HEAD [base]
		return badRequest(reasonPaging, pagingParam+" is accepted only in the query of GET [base], as the registry's page links have it: the registry ignores the path and the type it names")
	}
	return nil
}

// isSearch reports the interactions whose parameters are search
// parameters.
func isSearch(in *fhirreq.Interaction) bool {
	return in.Code == fhirreq.CodeSearchType || in.Code == fhirreq.CodeSearchSystem
}
