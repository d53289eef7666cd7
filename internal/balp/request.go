package balp

import (
	"strconv"
	"strings"

	d "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ae "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/audit_event_go_proto"

	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/fhirreq"
)

// request builds the event for an HTTP request: a BALP RESTful event, or
// a security alert when a guard refused it.
func (b *Builder) request(rec *auditrec.Record) *ae.AuditEvent {
	if rec.RefusalModule != "" || rec.RefusalReason != "" {
		return b.refusedRequest(rec)
	}
	in := &rec.FHIR
	var ev *ae.AuditEvent
	if in.Valid {
		ev = b.newEvent(rec, typeRest, restAction(in.Code), restSubtypes(in)...)
	} else {
		// Not a FHIR interaction (tester UI, admin UI, Elasticsearch…): a
		// RESTful event without a restful-interaction subtype, since none
		// would be true.
		ev = b.newEvent(rec, typeRest, actionE)
	}
	ev.Period = period(rec)
	ev.Outcome = statusOutcome(rec.Status)
	ev.OutcomeDesc = requestOutcomeDesc(rec)

	// BALP: the client is the Source Role and the server the Destination,
	// except for read/vread where the roles swap (data flows to the
	// client). With no person known, the node is the requestor.
	clientType, serverType := agentSource, agentDestination
	if in.Valid && (in.Code == "read" || in.Code == "vread") {
		clientType, serverType = agentDestination, agentSource
	}
	person := rec.UserID != ""
	ev.Agent = append(ev.Agent, nodeAgent(rec, clientType, !person), b.serverAgent(rec, serverType))
	if person {
		ev.Agent = append(ev.Agent, userAgent(rec, agentUser, true, false))
	}
	ev.Entity = b.requestEntities(rec)
	return ev
}

// refusedRequest builds the security alert for a request a guard refused:
// DICOM 110113 with subtype 110126 Node Authentication (node_auth), BALP
// AuthZ-Role (fhir_guard: an authorization decision on the node's
// scopes), or 110132 Use of Restricted Function (subnet_guard and any
// other guard).
func (b *Builder) refusedRequest(rec *auditrec.Record) *ae.AuditEvent {
	var ev *ae.AuditEvent
	switch rec.RefusalModule {
	case "node_auth", "tls":
		ev = b.newEvent(rec, typeSecAlert, actionE, subNodeAuth)
		ev.Agent = append(ev.Agent, nodeAgent(rec, agentSource, true), b.gatewayAgent(rec, agentDestination, false))
	case "fhir_guard":
		// BALP's AuthZ pattern: the client application and the
		// authorization server (the gateway) that denied it.
		ev = b.newEvent(rec, typeSecAlert, actionE, subAuthZRole)
		ev.Agent = append(ev.Agent, nodeAgent(rec, agentApplication, rec.UserID == ""), b.gatewayAgent(rec, agentAuthServer, false))
	default:
		ev = b.newEvent(rec, typeSecAlert, actionE, subRestrictedFunc)
		ev.Agent = append(ev.Agent, nodeAgent(rec, agentSource, rec.UserID == ""), b.gatewayAgent(rec, agentDestination, false))
	}
	if rec.UserID != "" {
		ev.Agent = append(ev.Agent, userAgent(rec, agentUser, true, false))
	}
	ev.Period = period(rec)
	ev.Outcome = statusOutcome(rec.Status)
	if rec.Status < 400 {
		// A refusal is a failure whatever status was (not) recorded.
		ev.Outcome = outcomeMinor
	}
	ev.OutcomeDesc = str(refusalDesc("request refused", rec))
	ev.Entity = b.requestEntities(rec)
	return ev
}

// refusalDesc is "<what> by <module>: <reason>: <detail> (HTTP n)".
func refusalDesc(what string, rec *auditrec.Record) string {
	var sb strings.Builder
	sb.WriteString(what)
	if rec.RefusalModule != "" {
		sb.WriteString(" by ")
		sb.WriteString(rec.RefusalModule)
	}
	if rec.RefusalReason != "" {
		sb.WriteString(": ")
		sb.WriteString(rec.RefusalReason)
	}
	if rec.RefusalDetail != "" {
		sb.WriteString(": ")
		sb.WriteString(rec.RefusalDetail)
	}
	if rec.Status > 0 {
		sb.WriteString(" (")
		sb.WriteString(statusText(rec.Status))
		sb.WriteString(")")
	}
	return sb.String()
}

// requestOutcomeDesc explains a failed request: never completed, the
// upstream error, or the status.
func requestOutcomeDesc(rec *auditrec.Record) *d.String {
	switch {
	case rec.Status == auditrec.StatusIncomplete || rec.Status <= 0:
		return &d.String{Value: incompleteDesc}
	case rec.Error != "":
		return str(rec.Error + " (" + statusText(rec.Status) + ")")
	case rec.Status >= 400:
		return &d.String{Value: statusText(rec.Status)}
	}
	return nil
}

// restAction maps a restful-interaction code to AuditEvent.action.
func restAction(code string) *ae.AuditEvent_ActionCode {
	switch code {
	case "read", "vread":
		return actionR
	case "create":
		return actionC
	case "update", "patch":
		return actionU
	case "delete":
		return actionD
	default: // searches, history, capabilities, operations, batch/transaction
		return actionE
	}
}

// restSubtypes is the restful-interaction code, plus the IHE transaction
// for PDQm (ITI-78: a Patient search) and PIXm (ITI-83: Patient/$ihe-pix).
func restSubtypes(in *fhirreq.Interaction) []*d.Coding {
	code, ok := restfulCodes[in.Code]
	if !ok {
		return nil
	}
	switch {
	case in.ResourceType == "Patient" && in.Code == "search-type":
		return []*d.Coding{code, subITI78}
	case in.ResourceType == "Patient" && in.ID == "" && in.Code == "operation" && in.Operation == "ihe-pix":
		return []*d.Coding{code, subITI83}
	}
	return []*d.Coding{code}
}

// period is when the gateway handled the request.
func period(rec *auditrec.Record) *d.Period {
	if rec.Duration <= 0 {
		return nil
	}
	return &d.Period{Start: dateTime(rec.Time), End: dateTime(rec.Time.Add(rec.Duration))}
}

// requestEntities are the query entity (the raw request), the patients
// the request names, the resource it targets, and its X-Request-Id.
func (b *Builder) requestEntities(rec *auditrec.Record) []*ae.AuditEvent_Entity {
	ents := make([]*ae.AuditEvent_Entity, 0, 4)
	ents = append(ents, b.queryEntity(rec))
	for _, p := range patientsOf(rec) {
		ents = append(ents, patientEntity(p))
	}
	if e := dataEntity(&rec.FHIR); e != nil {
		ents = append(ents, e)
	}
	if id := clean(rec.RequestID); id != "" {
		ents = append(ents, &ae.AuditEvent_Entity{
			Type: entityXRequestID,
			What: &d.Reference{Identifier: &d.Identifier{Value: &d.String{Value: id}}},
		})
	}
	return ents
}

// queryEntity keeps the request exactly as received, base64 in
// entity.query (BALP: so malicious patterns are preserved): the method, a
// space and the request URI, and for a POST _search a blank line and the
// form body. Longer than MaxQueryBytes, it is cut and the description says
// so.
func (b *Builder) queryEntity(rec *auditrec.Record) *ae.AuditEvent_Entity {
	n := len(rec.Method) + 1 + len(rec.URI)
	if rec.SearchBody != "" {
		n += 2 + len(rec.SearchBody)
	}
	q := make([]byte, 0, min(n, b.src.MaxQueryBytes))
	q = append(q, rec.Method...)
	q = append(q, ' ')
	q = append(q, rec.URI...)
	if rec.SearchBody != "" {
		q = append(q, "\n\n"...)
		q = append(q, rec.SearchBody...)
	}
	e := &ae.AuditEvent_Entity{Type: entitySystemObj, Role: roleQuery}
	if len(q) > b.src.MaxQueryBytes {
		q = q[:b.src.MaxQueryBytes]
		e.Description = &d.String{Value: "request truncated to its first " + strconv.Itoa(b.src.MaxQueryBytes) + " of " + strconv.Itoa(n) + " bytes"}
	}
	e.Query = &d.Base64Binary{Value: q}
	return e
}

// patientEntity is BALP's patient entity: what = Reference(Patient/id), or
// the patient's business identifier.
func patientEntity(p patient) *ae.AuditEvent_Entity {
	what := &d.Reference{}
	if p.ID != "" {
		what.Reference = &d.Reference_Uri{Uri: &d.String{Value: "Patient/" + p.ID}}
	} else {
		id := &d.Identifier{Value: &d.String{Value: p.Value}}
		if p.System != "" {
			id.System = &d.Uri{Value: p.System}
		}
		what.Identifier = id
	}
	return &ae.AuditEvent_Entity{Type: entityPerson, Role: rolePatient, What: what}
}

// dataEntity is the resource an instance-level interaction targets (other
// than a Patient, which is the patient entity): what =
// Reference(Type/id[/_history/v]).
func dataEntity(in *fhirreq.Interaction) *ae.AuditEvent_Entity {
	if !in.Valid || in.ID == "" || in.ResourceType == "Patient" || !validType(in.ResourceType) || !validID(in.ID) {
		return nil
	}
	ref := in.ResourceType + "/" + in.ID
	if in.VersionID != "" && validID(in.VersionID) {
		ref += "/_history/" + in.VersionID
	}
	return &ae.AuditEvent_Entity{
		Type: entitySystemObj,
		Role: roleDomainRes,
		What: &d.Reference{Reference: &d.Reference_Uri{Uri: &d.String{Value: ref}}},
	}
}

// validType reports whether s looks like a FHIR resource type name.
func validType(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
