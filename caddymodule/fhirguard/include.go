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
// Modifiers (_include:iterate, :recurse) count the same. Chained
// parameters (subject:Patient.name=…) are not judged; see
// docs/fhir_guard.md.
func checkSearchReach(set scope.Set, rawParams string) *refusal {
	var ref *refusal
	err := eachParam(rawParams, true, func(k, v string) bool {
		name, _, _ := strings.Cut(k, ":")
		var typ string
		switch name {
		case "_include":
			parts := strings.Split(v, ":")
			if len(parts) != 3 || parts[2] == "*" {
				ref = forbidden(reasonSearchReach, "_include must name its target type (Source:param:Target)")
				return false
			}
			typ = parts[2]
		case "_revinclude":
			src, _, _ := strings.Cut(v, ":")
			typ = src
		case "_has":
			parts := strings.Split(k, ":")
			if len(parts) < 4 {
				ref = forbidden(reasonSearchReach, "malformed _has parameter")
				return false
			}
			typ = parts[1]
		default:
			return true
		}
		if typ == "*" || !scope.IsResourceType(typ) {
			ref = forbidden(reasonSearchReach, name+" must name an R4 resource type")
			return false
		}
		if !set.Allows(typ, "search") {
			ref = forbidden(reasonSearchReach, name+" reaches "+typ+": this node's scopes do not include "+typ+".search")
			return false
		}
		return true
	})
	if err != nil {
		return badRequest(reasonBadQuery, err.Error())
	}
	return ref
}

// isSearch reports the interactions whose parameters are search
// parameters.
func isSearch(in *fhirreq.Interaction) bool {
	return in.Code == fhirreq.CodeSearchType || in.Code == fhirreq.CodeSearchSystem
}
