// Package scope is the grammar of node scopes: what a registered
// point-of-service node may do. The node registry refuses a clients file
// with a scope outside this grammar, and fhir_guard grants exactly the
// interactions a node's scopes name; both read scopes through this package
// so the two can never disagree.
//
// A scope is "<Resource>.<interaction>" or "system.<interaction>":
//
//	Patient.read  Patient.vread  Patient.search  Patient.history
//	Patient.create  Patient.update  Patient.patch  Patient.delete
//	Patient.$ihe-pix  Patient.$match        (operations, type or instance level)
//	system.capabilities  system.search  system.history
//	system.batch  system.transaction  system.$everything
//
// There are no wildcards: a node gets what its registration lists, and an
// operator who wants more writes it down.
package scope

import (
	"errors"
	"fmt"
	"strings"
)

// System is the resource part of system-level scopes.
const System = "system"

// Scope is one parsed grant.
type Scope struct {
	// Resource is an R4 resource type, or System.
	Resource string
	// Interaction is a RESTful interaction name or "$operation".
	Interaction string
}

// String returns the scope as written in the clients file.
func (s Scope) String() string { return s.Resource + "." + s.Interaction }

var typeInteractions = map[string]struct{}{
	"read": {}, "vread": {}, "search": {}, "history": {},
	"create": {}, "update": {}, "patch": {}, "delete": {},
}

var systemInteractions = map[string]struct{}{
	"capabilities": {}, "search": {}, "history": {}, "batch": {}, "transaction": {},
}

// ErrUnknown is returned (wrapped) for a scope outside the grammar.
var ErrUnknown = errors.New("unknown scope")

// Parse reads one scope, refusing anything outside the grammar.
func Parse(s string) (Scope, error) {
	res, inter, ok := strings.Cut(s, ".")
	if !ok || res == "" || inter == "" {
		return Scope{}, fmt.Errorf("%w %q: want <Resource>.<interaction> or system.<interaction>", ErrUnknown, s)
	}
	if strings.HasPrefix(inter, "$") {
		if !validOperationName(inter[1:]) {
			return Scope{}, fmt.Errorf("%w %q: operation name %q is not a FHIR operation name", ErrUnknown, s, inter)
		}
	} else {
		allowed := typeInteractions
		if res == System {
			allowed = systemInteractions
		}
		if _, ok := allowed[inter]; !ok {
			return Scope{}, fmt.Errorf("%w %q: interaction %q is not one of %s", ErrUnknown, s, inter, interactionList(res == System))
		}
	}
	if res != System && !IsResourceType(res) {
		return Scope{}, fmt.Errorf("%w %q: %q is not an R4 resource type", ErrUnknown, s, res)
	}
	return Scope{Resource: res, Interaction: inter}, nil
}

// validOperationName follows FHIR's OperationDefinition.code: a token of
// letters, digits, '-' and '_' beginning with a letter.
func validOperationName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return true
}

func interactionList(system bool) string {
	if system {
		return "capabilities, search, history, batch, transaction, $<operation>"
	}
	return "read, vread, search, history, create, update, patch, delete, $<operation>"
}

// Set is an immutable set of scopes with an allocation-free lookup.
type Set struct {
	m map[Scope]struct{}
}

// ParseSet parses every scope, refusing duplicates so that a typo'd
// duplicate cannot hide a missing grant.
func ParseSet(list []string) (Set, error) {
	s := Set{m: make(map[Scope]struct{}, len(list))}
	for i, raw := range list {
		sc, err := Parse(raw)
		if err != nil {
			return Set{}, fmt.Errorf("scope %d: %w", i, err)
		}
		if _, dup := s.m[sc]; dup {
			return Set{}, fmt.Errorf("scope %d: %q listed twice", i, raw)
		}
		s.m[sc] = struct{}{}
	}
	return s, nil
}

// Allows reports whether the set grants interaction on resource (System
// for system-level interactions).
func (s Set) Allows(resource, interaction string) bool {
	_, ok := s.m[Scope{Resource: resource, Interaction: interaction}]
	return ok
}

// Len is the number of scopes in the set.
func (s Set) Len() int { return len(s.m) }
