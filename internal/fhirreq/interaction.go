// Package fhirreq reads an HTTP request as a FHIR RESTful interaction: it
// canonicalises the request path once (refusing anything ambiguous) and
// classifies the canonical path against the configured FHIR base paths.
// fhir_guard decides on the result and audit records it; both read requests
// through this package so the two can never disagree about what a request
// was.
package fhirreq

// Interaction is a request classified as a FHIR RESTful interaction.
type Interaction struct {
	// Valid is false for requests that are not FHIR interactions (tester
	// UI, Elasticsearch, admin paths, unparsable FHIR URLs…).
	Valid bool
	// Code is the http://hl7.org/fhir/restful-interaction code: read,
	// vread, update, patch, delete, history-instance, history-type,
	// history-system, create, search-type, search-system, capabilities,
	// transaction, batch, operation.
	Code string
	// Base is the FHIR base path the request was classified under, e.g.
	// "/fhir".
	Base string
	// ResourceType, ID and VersionID name the target, when the URL does.
	ResourceType string
	ID           string
	VersionID    string
	// Operation is the operation name without '$' (Code "operation").
	Operation string
	// Compartment is the compartment search's resource type, e.g.
	// "Observation" for GET Patient/1/Observation (ResourceType "Patient").
	Compartment string
	// Conditional is set when search criteria in the query pick the target
	// (conditional update, patch or delete: PUT/PATCH/DELETE [type]?…).
	// Conditional create (If-None-Exist) is a header, which Classify does
	// not see; fhir_guard sets it.
	Conditional bool
	// Why says, for a request that is not a FHIR interaction (Valid
	// false), what did not fit, e.g. "no FHIR base", "unknown resource
	// type".
	Why string
}
