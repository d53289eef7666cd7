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
func (x *build) handshake() *ae.AuditEvent {
	ev := x.newEvent(typeSecAlert, actionE, subNodeAuth)
	ev.Outcome = outcomeMinor
	ev.OutcomeDesc = x.str(refusalDesc("TLS handshake refused", x.rec))
	ev.Agent = append(ev.Agent, x.nodeAgent(agentSource, true), x.gatewayAgent(agentDestination, false))
	return ev
}

// application builds DICOM 110100 Application Activity, 110120 Start or
// 110121 Stop, with the gateway as the application agent.
func (x *build) application() *ae.AuditEvent {
	sub := subAppStart
	if x.rec.Kind == auditrec.KindApplicationStop {
		sub = subAppStop
	}
	ev := x.newEvent(typeAppActivity, actionE, sub)
	ev.Outcome, ev.OutcomeDesc = x.plainOutcome()
	a := x.agent()
	a.Type, a.Who, a.Requestor = agentApplication, x.b.gw, boolFalse
	ev.Agent = append(ev.Agent, a)
	return ev
}

// userAuthentication builds DICOM 110114 User Authentication, 110122 Login
// or 110123 Logout: the person as the requestor with their network access
// point, the gateway as the authenticating application.
func (x *build) userAuthentication() *ae.AuditEvent {
	sub, what := subLogin, "login refused"
	if x.rec.Kind == auditrec.KindUserLogout {
		sub, what = subLogout, "logout refused"
	}
	ev := x.newEvent(typeUserAuthentn, actionE, sub)
	ev.Outcome, ev.OutcomeDesc = x.plainOutcome()
	if refused(x.rec) {
		ev.OutcomeDesc = x.str(refusalDesc(what, x.rec))
	}
	ev.Agent = append(ev.Agent, x.userAgent(nil, true, true), x.gatewayAgent(agentApplication, false))
	return ev
}

// accountChange builds a security alert, DICOM 110113 / 110137 User
// Security Attributes Changed: who made the change (Actor, or the gateway
// itself, e.g. a lockout) as the requestor, and the account as a Security
// User entity whose description is the change (Action).
func (x *build) accountChange() *ae.AuditEvent {
	rec := x.rec
	ev := x.newEvent(typeSecAlert, accountAction(rec.Action), subUserSecAttrs)
	var desc *d.String
	ev.Outcome, desc = x.plainOutcome()
	text := "account " + rec.UserID + ": " + nonEmpty(rec.Action, "changed")
	if rec.Actor != "" {
		text += " by " + rec.Actor
	}
	if refused(rec) {
		text = refusalDesc(text+": refused", rec)
	} else if desc != nil {
		text += ": " + desc.Value
	}
	ev.OutcomeDesc = x.str(text)
	if rec.Actor != "" {
		actor := x.agent()
		actor.Who = x.userRef(rec.Actor, actorName(rec))
		actor.Requestor = boolTrue
		actor.Network = x.ipNetwork()
		ev.Agent = append(ev.Agent, actor, x.gatewayAgent(agentApplication, false))
	} else {
		ev.Agent = append(ev.Agent, x.gatewayAgent(agentApplication, true))
	}
	e := x.entity()
	e.Type, e.Role = entityPerson, roleSecUser
	e.What = x.userRef(rec.UserID, rec.UserName)
	e.Description = x.str(rec.Action)
	ev.Entity = append(x.entsP[:0], e)
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

func refused(rec *auditrec.Record) bool { return rec.RefusalModule != "" || rec.RefusalReason != "" }

// plainOutcome is the outcome of a non-request event: a refusal is a
// minor failure, an error or 5xx a serious one, a 4xx minor, anything else
// (including no status) success.
func (x *build) plainOutcome() (*ae.AuditEvent_OutcomeCode, *d.String) {
	rec := x.rec
	switch {
	case refused(rec):
		return outcomeMinor, x.str(refusalDesc("refused", rec))
	case rec.Error != "":
		return outcomeSerious, x.str(rec.Error)
	case rec.Status >= 500:
		return outcomeSerious, x.rawStr(statusText(rec.Status))
	case rec.Status >= 400:
		return outcomeMinor, x.rawStr(statusText(rec.Status))
	}
	return outcomeSuccess, nil
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
