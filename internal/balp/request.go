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
func (x *build) request() *ae.AuditEvent {
	rec := x.rec
	if rec.RefusalModule != "" || rec.RefusalReason != "" {
		return x.refusedRequest()
	}
	in := &rec.FHIR
	var ev *ae.AuditEvent
	if in.Valid {
		ev = x.newEvent(typeRest, restAction(in.Code), restSubtypes(in)...)
	} else {
		// Not a FHIR interaction (tester UI, admin UI, Elasticsearch…): a
		// RESTful event without a restful-interaction subtype, since none
		// would be true.
		ev = x.newEvent(typeRest, actionE)
	}
	ev.Period = x.period()
	ev.Outcome = statusOutcome(rec.Status)
	if rec.Error != "" && rec.Status > 0 && rec.Status < 500 {
		// The status was sent, then the response failed (aborted
		// mid-body): the client did not get what the status promised.
		ev.Outcome = outcomeSerious
	}
	ev.OutcomeDesc = x.requestOutcomeDesc()

	// BALP: the client is the Source Role and the server the Destination,
	// except for read/vread where the roles swap (data flows to the
	// client). With no person known, the node is the requestor.
	clientType, serverType := agentSource, agentDestination
	if in.Valid && (in.Code == "read" || in.Code == "vread") {
		clientType, serverType = agentDestination, agentSource
	}
	person := rec.UserID != ""
	ev.Agent = append(ev.Agent, x.nodeAgent(clientType, !person), x.serverAgent(serverType))
	if person {
		ev.Agent = append(ev.Agent, x.userAgent(agentUser, true, false))
	}
	ev.Entity = x.requestEntities()
	return ev
}

// refusedRequest builds the security alert for a request a guard refused:
// DICOM 110113 with subtype 110126 Node Authentication (node_auth), BALP
// AuthZ-Role (fhir_guard: an authorization decision on the node's
// scopes), or 110132 Use of Restricted Function (subnet_guard and any
// other guard).
func (x *build) refusedRequest() *ae.AuditEvent {
	rec := x.rec
	person := rec.UserID != ""
	var ev *ae.AuditEvent
	switch rec.RefusalModule {
	case "node_auth", "tls":
		ev = x.newEvent(typeSecAlert, actionE, subNodeAuth)
		ev.Agent = append(ev.Agent, x.nodeAgent(agentSource, !person), x.gatewayAgent(agentDestination, false))
	case "fhir_guard":
		// BALP's AuthZ pattern: the client application and the
		// authorization server (the gateway) that denied it.
		ev = x.newEvent(typeSecAlert, actionE, subAuthZRole)
		ev.Agent = append(ev.Agent, x.nodeAgent(agentApplication, !person), x.gatewayAgent(agentAuthServer, false))
	default:
		ev = x.newEvent(typeSecAlert, actionE, subRestrictedFunc)
		ev.Agent = append(ev.Agent, x.nodeAgent(agentSource, !person), x.gatewayAgent(agentDestination, false))
	}
	if person {
		ev.Agent = append(ev.Agent, x.userAgent(agentUser, true, false))
	}
	ev.Period = x.period()
	ev.Outcome = statusOutcome(rec.Status)
	if rec.Status < 400 {
		// A refusal is a failure whatever status was (not) recorded.
		ev.Outcome = outcomeMinor
	}
	ev.OutcomeDesc = x.str(refusalDesc("request refused", rec))
	ev.Entity = x.requestEntities()
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
func (x *build) requestOutcomeDesc() *d.String {
	rec := x.rec
	switch {
	case rec.Status == auditrec.StatusIncomplete || rec.Status <= 0:
		return x.rawStr(incompleteDesc)
	case rec.Error != "":
		return x.str(rec.Error + " (" + statusText(rec.Status) + ")")
	case rec.Status >= 400:
		return x.rawStr(statusText(rec.Status))
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

// Subtype lists, shared: the restful-interaction code, plus the IHE
// transaction for PDQm (ITI-78: a Patient search) and PIXm (ITI-83:
// Patient/$ihe-pix).
var (
	restSubs = func() map[string][]*d.Coding {
		m := make(map[string][]*d.Coding, len(restfulCodes))
		for k, c := range restfulCodes {
			m[k] = []*d.Coding{c}
		}
		return m
	}()
	pdqmSubs = []*d.Coding{restfulCodes["search-type"], subITI78}
	pixmSubs = []*d.Coding{restfulCodes["operation"], subITI83}
)

// restSubtypes is the event's subtype list for interaction in.
func restSubtypes(in *fhirreq.Interaction) []*d.Coding {
	switch {
	case in.ResourceType == "Patient" && in.ID == "" && in.Code == "search-type":
		// Patient/123/Observation is search-type too (a compartment
		// search on Observation), but no PDQm query.
		return pdqmSubs
	case in.ResourceType == "Patient" && in.ID == "" && in.Code == "operation" && in.Operation == "ihe-pix":
		return pixmSubs
	}
	// nil for a code outside restful-interaction, e.g. fhirreq's
	// provisional "batch-or-transaction" when nothing read the Bundle: no
	// subtype rather than a guess.
	return restSubs[in.Code]
}

// period is when the gateway handled the request.
func (x *build) period() *d.Period {
	end := x.rec.Time.Add(x.rec.Duration)
	if x.rec.Duration <= 0 || end.UTC().Year() > 9999 {
		return nil
	}
	x.period_.Start = setDateTime(&x.times[0], x.rec.Time)
	x.period_.End = setDateTime(&x.times[1], end)
	return &x.period_
}

// requestEntities are the query entity (the raw request, when there is
// one), the patients
// the request names, the resource it targets, and its X-Request-Id.
func (x *build) requestEntities() []*ae.AuditEvent_Entity {
	ents := x.entsP[:0]
	if x.rec.Method != "" || x.rec.URI != "" {
		// A request the HTTP server answered before any route (module
		// "http") has no request line the gateway could keep.
		ents = append(ents, x.queryEntity())
	}
	x.patients = patientsOf(x.rec, x.patients[:0])
	for _, p := range x.patients {
		ents = append(ents, x.patientEntity(p))
	}
	if e := x.dataEntity(); e != nil {
		ents = append(ents, e)
	}
	if id := clean(x.rec.RequestID); id != "" {
		e := x.entity()
		e.Type = entityXRequestID
		e.What = x.ref()
		e.What.Identifier = x.identifier("", id)
		ents = append(ents, e)
	}
	return ents
}

// queryEntity keeps the request exactly as received, base64 in
// entity.query (BALP: so malicious patterns are preserved): the method, a
// space and the request URI, and for a POST _search a blank line and the
// form body. Longer than MaxQueryBytes, it is cut and the description says
// so.
func (x *build) queryEntity() *ae.AuditEvent_Entity {
	rec, limit := x.rec, x.b.src.MaxQueryBytes
	n := len(rec.Method) + 1 + len(rec.URI)
	if rec.SearchBody != "" {
		n += 2 + len(rec.SearchBody)
	}
	// Copy no more than is kept: a huge URI or body costs no more than
	// MaxQueryBytes here.
	q := x.qbuf[:0]
	for _, part := range [...]string{rec.Method, " ", rec.URI, sep(rec.SearchBody), rec.SearchBody} {
		q = append(q, part[:min(len(part), limit-len(q))]...)
	}
	x.qbuf = q
	e := x.entity()
	e.Type, e.Role = entitySystemObj, roleQuery
	if n > limit {
		e.Description = x.rawStr("request truncated to its first " + strconv.Itoa(limit) + " of " + strconv.Itoa(n) + " bytes")
	}
	x.q.Value = q
	e.Query = &x.q
	return e
}

// sep is the blank line between the request line and a body, if any.
func sep(body string) string {
	if body == "" {
		return ""
	}
	return "\n\n"
}

// patientEntity is BALP's patient entity: what = Reference(Patient/id), or
// the patient's business identifier.
func (x *build) patientEntity(p patient) *ae.AuditEvent_Entity {
	e := x.entity()
	e.Type, e.Role = entityPerson, rolePatient
	if p.ID != "" {
		e.What = x.refTo("Patient/" + p.ID)
	} else {
		e.What = x.ref()
		e.What.Identifier = x.identifier(p.System, p.Value)
	}
	return e
}

// dataEntity is the resource an instance-level interaction targets (other
// than a Patient, which is the patient entity): what =
// Reference(Type/id[/_history/v]).
func (x *build) dataEntity() *ae.AuditEvent_Entity {
	in := &x.rec.FHIR
	if !in.Valid || in.ID == "" || in.ResourceType == "Patient" || !validType(in.ResourceType) || !validID(in.ID) {
		return nil
	}
	ref := in.ResourceType + "/" + in.ID
	if in.VersionID != "" && validID(in.VersionID) {
		ref += "/_history/" + in.VersionID
	}
	e := x.entity()
	e.Type, e.Role = entitySystemObj, roleDomainRes
	e.What = x.refTo(ref)
	return e
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
