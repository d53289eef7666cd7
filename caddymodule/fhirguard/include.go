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
// follows to B) and at the end of a chain (org:Organization._has:B:r:p).
// A chain needs the search of every type it links to:
//
//	subject:Patient.name=…        Patient.search (an untyped link is refused)
//	_sort=subject:Patient.name    Patient.search (HAPI sorts by one link)
//	_list=id                      List.read or List.search
//	_contained (not false), _filter  system.search (any type)
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
	chain := func(k string) bool {
		return eachChainLink(k, func(typ string, ok bool) bool {
			if !ok {
				ref = forbidden(reasonSearchReach, "chained parameter "+k+" must name each link's target type (param:Type.next)")
				return false
			}
			return reaches("chained parameter "+k, typ)
		})
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
		case "_sort":
			// HAPI sorts by a chained parameter too (_sort=patient.family):
			// the order of the results reveals the other type's values.
			for _, key := range strings.Split(v, ",") {
				if !chain(strings.TrimPrefix(strings.TrimSpace(key), "-")) {
					return false
				}
			}
		case "_list":
			// Patient?_list=42 answers with the Patients List/42 holds.
			if !set.Allows("List", "read") && !set.Allows("List", "search") {
				ref = forbidden(reasonSearchReach, "_list reaches List: this node's scopes include neither List.read nor List.search")
				return false
			}
		case "_contained", "_filter":
			// _contained (other than false) answers with resources
			// contained in, or containing, resources of any type; a
			// _filter expression can chain to any type. Neither can be
			// judged per type, so they need the system-wide grant.
			if name == "_contained" && strings.TrimSpace(v) == "false" {
				break
			}
			if !set.Allows(scope.System, "search") {
				ref = forbidden(reasonSearchReach, name+" can reach any type: it needs system.search")
				return false
			}
		}
		if !chain(k) {
			return false
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

// eachChainLink calls fn with the target type of every link of a
// chained parameter name (subject:Patient.organization:Organization.name
// links to Patient and Organization): a chain reveals whether resources
// of its target types match, as _has does. ok is false for a link that
// does not name an R4 resource type (param:Type.next): without one the
// server picks the parameter's targets, which the guard does not know.
// It stops when fn returns false.
func eachChainLink(k string, fn func(typ string, ok bool) bool) bool {
	for {
		link, rest, chained := strings.Cut(k, ".")
		if !chained {
			return true
		}
		typ := ""
		if i := strings.LastIndexByte(link, ':'); i >= 0 {
			typ = link[i+1:]
		}
		if !fn(typ, scope.IsResourceType(typ)) {
			return false
		}
		k = rest
	}
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
