package fhirguard

import (
	"github.com/crgate/crgate/internal/fhirreq"
	"github.com/crgate/crgate/internal/scope"
)

// needed returns the scopes an interaction requires, all of them, as
// (resource, interaction) pairs; ok is false for an interaction no scope
// grants. The mapping (docs/fhir_guard.md):
//
//	read, vread, update, patch, delete, create   Type.<same>
//	history-instance, history-type               Type.history
//	history-system                               system.history
//	search-type ([type], [type]/_search)         Type.search
//	compartment search Patient/[id]/Observation  Observation.search
//	search-system ([base], [base]/_search)       system.search
//	capabilities                                 system.capabilities
//	operation $op at type or instance level      Type.$op
//	operation $op at system level                system.$op
//	batch, transaction                           system.batch, system.transaction
//	                                             (and every entry its own)
//	conditional update (PUT [type]?…)            Type.update and Type.create
//	conditional create (If-None-Exist)           Type.create and Type.search
//
// Conditional update creates when nothing matches; conditional create
// answers whether something matches, which is a search.
func needed(in *fhirreq.Interaction, ifNoneExist bool) (first, second scope.Scope, two, ok bool) {
	typ := in.ResourceType
	switch in.Code {
	case fhirreq.CodeRead, fhirreq.CodeVRead, fhirreq.CodePatch, fhirreq.CodeDelete:
		return scope.Scope{Resource: typ, Interaction: in.Code}, scope.Scope{}, false, true
	case fhirreq.CodeUpdate:
		s := scope.Scope{Resource: typ, Interaction: "update"}
		if in.Conditional {
			return s, scope.Scope{Resource: typ, Interaction: "create"}, true, true
		}
		return s, scope.Scope{}, false, true
	case fhirreq.CodeCreate:
		s := scope.Scope{Resource: typ, Interaction: "create"}
		if ifNoneExist {
			return s, scope.Scope{Resource: typ, Interaction: "search"}, true, true
		}
		return s, scope.Scope{}, false, true
	case fhirreq.CodeHistoryInstance, fhirreq.CodeHistoryType:
		return scope.Scope{Resource: typ, Interaction: "history"}, scope.Scope{}, false, true
	case fhirreq.CodeHistorySystem:
		return scope.Scope{Resource: scope.System, Interaction: "history"}, scope.Scope{}, false, true
	case fhirreq.CodeSearchType:
		if in.Compartment != "" {
			typ = in.Compartment
		}
		return scope.Scope{Resource: typ, Interaction: "search"}, scope.Scope{}, false, true
	case fhirreq.CodeSearchSystem:
		return scope.Scope{Resource: scope.System, Interaction: "search"}, scope.Scope{}, false, true
	case fhirreq.CodeCapabilities:
		return scope.Scope{Resource: scope.System, Interaction: "capabilities"}, scope.Scope{}, false, true
	case fhirreq.CodeOperation:
		if typ == "" {
			typ = scope.System
		}
		return scope.Scope{Resource: typ, Interaction: "$" + in.Operation}, scope.Scope{}, false, true
	case fhirreq.CodeBatch, fhirreq.CodeTransaction:
		return scope.Scope{Resource: scope.System, Interaction: in.Code}, scope.Scope{}, false, true
	}
	return scope.Scope{}, scope.Scope{}, false, false
}

// checkScopes refuses an interaction the node's scopes do not grant.
func checkScopes(set scope.Set, in *fhirreq.Interaction, ifNoneExist bool) *refusal {
	first, second, two, ok := needed(in, ifNoneExist)
	if !ok {
		return forbidden(reasonScope, "no scope grants "+in.Code)
	}
	if !set.Allows(first.Resource, first.Interaction) {
		return forbidden(reasonScope, "this node's scopes do not include "+first.String())
	}
	if two && !set.Allows(second.Resource, second.Interaction) {
		return forbidden(reasonScope, "this node's scopes do not include "+second.String()+" (needed with "+first.String()+")")
	}
	return nil
}
