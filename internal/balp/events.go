package balp

import (
	"strings"

	d "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ae "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/audit_event_go_proto"

	"github.com/crgate/crgate/internal/auditrec"
)

// handshake builds the security alert for a refused TLS handshake: DICOM
// 110113 / 110126 Node Authentication, the client with its address and
// whatever certificate it presented, the gateway as the destination.
func (b *Builder) handshake(rec *auditrec.Record) *ae.AuditEvent {
	ev := b.newEvent(rec, typeSecAlert, actionE, subNodeAuth)
	ev.Outcome = outcomeMinor
	ev.OutcomeDesc = str(refusalDesc("TLS handshake refused", rec))
	ev.Agent = []*ae.AuditEvent_Agent{
		nodeAgent(rec, agentSource, true),
		b.gatewayAgent(rec, agentDestination, false),
	}
	return ev
}

// application builds DICOM 110100 Application Activity, 110120 Start or
// 110121 Stop, with the gateway as the application agent.
func (b *Builder) application(rec *auditrec.Record) *ae.AuditEvent {
	sub := subAppStart
	if rec.Kind == auditrec.KindApplicationStop {
		sub = subAppStop
	}
	ev := b.newEvent(rec, typeAppActivity, actionE, sub)
	ev.Outcome, ev.OutcomeDesc = plainOutcome(rec)
	ev.Agent = []*ae.AuditEvent_Agent{{
		Type:      agentApplication,
		Who:       b.gatewayRef(),
		Requestor: boolFalse,
	}}
	return ev
}

// userAuthentication builds DICOM 110114 User Authentication, 110122 Login
// or 110123 Logout: the person as the requestor with their network access
// point, the gateway as the authenticating application.
func (b *Builder) userAuthentication(rec *auditrec.Record) *ae.AuditEvent {
	sub := subLogin
	what := "login refused"
	if rec.Kind == auditrec.KindUserLogout {
		sub = subLogout
		what = "logout refused"
	}
	ev := b.newEvent(rec, typeUserAuthentn, actionE, sub)
	ev.Outcome, ev.OutcomeDesc = plainOutcome(rec)
	if rec.RefusalModule != "" || rec.RefusalReason != "" {
		ev.OutcomeDesc = str(refusalDesc(what, rec))
	}
	ev.Agent = []*ae.AuditEvent_Agent{
		userAgent(rec, nil, true, true),
		b.gatewayAgent(rec, agentApplication, false),
	}
	return ev
}

// accountChange builds a security alert, DICOM 110113 / 110137 User
// Security Attributes Changed: who made the change (Actor, or the gateway
// itself, e.g. a lockout) as the requestor, and the account as a Security
// User entity whose description is the change (Action).
func (b *Builder) accountChange(rec *auditrec.Record) *ae.AuditEvent {
	ev := b.newEvent(rec, typeSecAlert, accountAction(rec.Action), subUserSecAttrs)
	ev.Outcome, ev.OutcomeDesc = plainOutcome(rec)
	desc := "account " + rec.UserID + ": " + nonEmpty(rec.Action, "changed")
	if rec.Actor != "" {
		desc += " by " + rec.Actor
	}
	if rec.RefusalModule != "" || rec.RefusalReason != "" {
		desc = refusalDesc(desc+": refused", rec)
	} else if ev.OutcomeDesc != nil {
		desc += ": " + ev.OutcomeDesc.Value
	}
	ev.OutcomeDesc = str(desc)
	if rec.Actor != "" {
		actor := &ae.AuditEvent_Agent{
			Who:       userRef(rec.Actor, actorName(rec)),
			Requestor: boolTrue,
			Network:   ipNetwork(rec.ClientIP),
		}
		ev.Agent = append(ev.Agent, actor, b.gatewayAgent(rec, agentApplication, false))
	} else {
		ev.Agent = append(ev.Agent, b.gatewayAgent(rec, agentApplication, true))
	}
	ev.Entity = []*ae.AuditEvent_Entity{{
		Type:        entityPerson,
		Role:        roleSecUser,
		What:        userRef(rec.UserID, rec.UserName),
		Description: str(rec.Action),
	}}
	return ev
}

// actorName is the actor's display name when the actor is the person
// whose account changed.
func actorName(rec *auditrec.Record) string {
	if rec.Actor == rec.UserID {
		return rec.UserName
	}
	return ""
}

// accountAction maps an account change to C (created), D (deleted) or U.
func accountAction(action string) *ae.AuditEvent_ActionCode {
	switch {
	case strings.HasPrefix(action, "create"):
		return actionC
	case strings.HasPrefix(action, "delete"), strings.HasPrefix(action, "remove"):
		return actionD
	default:
		return actionU
	}
}

// plainOutcome is the outcome of a non-request event: a refusal is a
// minor failure, an error or 5xx a serious one, a 4xx minor, anything else
// (including no status) success.
func plainOutcome(rec *auditrec.Record) (*ae.AuditEvent_OutcomeCode, *d.String) {
	switch {
	case rec.RefusalModule != "" || rec.RefusalReason != "":
		return outcomeMinor, str(refusalDesc("refused", rec))
	case rec.Error != "":
		return outcomeSerious, str(rec.Error)
	case rec.Status >= 500:
		return outcomeSerious, &d.String{Value: statusText(rec.Status)}
	case rec.Status >= 400:
		return outcomeMinor, &d.String{Value: statusText(rec.Status)}
	}
	return outcomeSuccess, nil
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
