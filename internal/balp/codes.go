package balp

import (
	d "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// Code systems used by the events.
const (
	sysDCM            = "http://dicom.nema.org/resources/ontology/DCM"
	sysEventType      = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	sysRestful        = "http://hl7.org/fhir/restful-interaction"
	sysIHEEvent       = "urn:ihe:event-type-code"
	sysSourceType     = "http://terminology.hl7.org/CodeSystem/security-source-type"
	sysEntityType     = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	sysObjectRole     = "http://terminology.hl7.org/CodeSystem/object-role"
	sysBALPEntityType = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
	sysBALPAuthZ      = "https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType"
	sysParticipation  = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	sysSecurityRole   = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
)

// Identifier systems crgate mints for its own identities. They are URNs so
// that they never resolve to anything and cannot collide with a
// deployment's own identifier systems.
const (
	// SystemNodeID qualifies a registered node's id (agent.who.identifier).
	SystemNodeID = "urn:crgate:node"
	// SystemUserID qualifies a person's account id (an email) at the admin
	// door (agent.who.identifier).
	SystemUserID = "urn:crgate:user"
	// SystemObserver qualifies the gateway's own identity
	// (source.observer.identifier).
	SystemObserver = "urn:crgate:gateway"
)

// coding returns a Coding. Codings are built once (package variables) and
// shared by every event: the jsonformat marshaller and the fast encoder
// only read them, so sharing is safe across goroutines and saves most of
// an event's allocations.
func coding(system, code, display string) *d.Coding {
	return &d.Coding{
		System:  &d.Uri{Value: system},
		Code:    &d.Code{Value: code},
		Display: &d.String{Value: display},
	}
}

// concept wraps one shared coding in a CodeableConcept (agent.type), also
// shared.
func concept(c *d.Coding) *d.CodeableConcept {
	return &d.CodeableConcept{Coding: []*d.Coding{c}}
}

// Event types (AuditEvent.type).
var (
	typeRest         = coding(sysEventType, "rest", "Restful Operation")
	typeAppActivity  = coding(sysDCM, "110100", "Application Activity")
	typeSecAlert     = coding(sysDCM, "110113", "Security Alert")
	typeUserAuthentn = coding(sysDCM, "110114", "User Authentication")
)

// Event subtypes (AuditEvent.subtype).
var (
	subAppStart       = coding(sysDCM, "110120", "Application Start")
	subAppStop        = coding(sysDCM, "110121", "Application Stop")
	subLogin          = coding(sysDCM, "110122", "Login")
	subLogout         = coding(sysDCM, "110123", "Logout")
	subNodeAuth       = coding(sysDCM, "110126", "Node Authentication")
	subRestrictedFunc = coding(sysDCM, "110132", "Use of Restricted Function")
	subUserSecAttrs   = coding(sysDCM, "110137", "User Security Attributes Changed")
	subAuthZRole      = coding(sysBALPAuthZ, "AuthZ-Role", "Authorization Decision using only Roles")
	subITI78          = coding(sysIHEEvent, "ITI-78", "Mobile Patient Demographics Query")
	subITI83          = coding(sysIHEEvent, "ITI-83", "Mobile Patient Identifier Cross-reference Query")
)

// restfulCodes are the http://hl7.org/fhir/restful-interaction codes
// fhirreq produces; each display is the code itself, as in the R4 code
// system.
var restfulCodes = func() map[string]*d.Coding {
	m := make(map[string]*d.Coding)
	for _, c := range []string{
		"read", "vread", "update", "patch", "delete",
		"history", "history-instance", "history-type", "history-system",
		"create", "search", "search-type", "search-system",
		"capabilities", "transaction", "batch", "operation",
	} {
		m[c] = coding(sysRestful, c, c)
	}
	return m
}()

// Agent types (AuditEvent.agent.type).
var (
	agentSource      = concept(coding(sysDCM, "110153", "Source Role ID"))
	agentDestination = concept(coding(sysDCM, "110152", "Destination Role ID"))
	agentApplication = concept(coding(sysDCM, "110150", "Application"))
	agentUser        = concept(coding(sysParticipation, "IRCP", "information recipient"))
	agentAuthServer  = concept(coding(sysSecurityRole, "authserver", "authorization server"))
)

// Source type: the gateway is an application server.
var sourceAppServer = coding(sysSourceType, "4", "Application Server")

// Entity types and roles.
var (
	entityPerson     = coding(sysEntityType, "1", "Person")
	entitySystemObj  = coding(sysEntityType, "2", "System Object")
	entityXRequestID = coding(sysBALPEntityType, "XrequestId", "transport specific unique identifier where http X-Request-Id is used")
	rolePatient      = coding(sysObjectRole, "1", "Patient")
	roleDomainRes    = coding(sysObjectRole, "4", "Domain Resource")
	roleQuery        = coding(sysObjectRole, "24", "Query")
	roleSecUser      = coding(sysObjectRole, "11", "Security User Entity")
)
