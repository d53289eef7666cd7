package balp

import (
	"net"
	"strconv"
	"time"

	c "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	d "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ae "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/audit_event_go_proto"

	"github.com/crgate/crgate/internal/auditrec"
)

// Shared enum-valued elements: read-only, like the codings.
var (
	actionC = &ae.AuditEvent_ActionCode{Value: c.AuditEventActionCode_C}
	actionR = &ae.AuditEvent_ActionCode{Value: c.AuditEventActionCode_R}
	actionU = &ae.AuditEvent_ActionCode{Value: c.AuditEventActionCode_U}
	actionD = &ae.AuditEvent_ActionCode{Value: c.AuditEventActionCode_D}
	actionE = &ae.AuditEvent_ActionCode{Value: c.AuditEventActionCode_E}

	outcomeSuccess = &ae.AuditEvent_OutcomeCode{Value: c.AuditEventOutcomeCode_SUCCESS}
	outcomeMinor   = &ae.AuditEvent_OutcomeCode{Value: c.AuditEventOutcomeCode_MINOR_FAILURE}
	outcomeSerious = &ae.AuditEvent_OutcomeCode{Value: c.AuditEventOutcomeCode_SERIOUS_FAILURE}
	outcomeMajor   = &ae.AuditEvent_OutcomeCode{Value: c.AuditEventOutcomeCode_MAJOR_FAILURE}

	netIP      = &ae.AuditEvent_Agent_Network_TypeCode{Value: c.AuditEventAgentNetworkTypeCode_IP_ADDRESS}
	netURI     = &ae.AuditEvent_Agent_Network_TypeCode{Value: c.AuditEventAgentNetworkTypeCode_URI}
	netMachine = &ae.AuditEvent_Agent_Network_TypeCode{Value: c.AuditEventAgentNetworkTypeCode_MACHINE_NAME}

	boolTrue  = &d.Boolean{Value: true}
	boolFalse = &d.Boolean{Value: false}
)

// incompleteDesc is the outcomeDesc of a request whose completion was
// never recorded.
const incompleteDesc = "completion never recorded: the gateway stopped (e.g. crashed or was killed) while the request was in flight; whether it reached the registry and what was answered is unknown"

// newEvent starts the event with what every event carries.
func (x *build) newEvent(typ *d.Coding, action *ae.AuditEvent_ActionCode, sub ...*d.Coding) *ae.AuditEvent {
	ev := &x.ev
	x.id.Value = x.rec.ID
	ev.Id = &x.id
	ev.Type = typ
	if len(sub) > 0 {
		ev.Subtype = append(x.subs[:0], sub...)
	}
	ev.Action = action
	x.recd = d.Instant{ValueUs: x.rec.Time.UnixMicro(), Timezone: "Z", Precision: d.Instant_MICROSECOND}
	ev.Recorded = &x.recd
	ev.Source = x.b.source
	ev.Agent = x.agentsP[:0]
	return ev
}

// setDateTime sets dt to t in UTC with microseconds.
func setDateTime(dt *d.DateTime, t time.Time) *d.DateTime {
	*dt = d.DateTime{ValueUs: t.UnixMicro(), Timezone: "Z", Precision: d.DateTime_MICROSECOND}
	return dt
}

// statusOutcome maps an HTTP status to a BALP outcome: 0 success (1xx–3xx),
// 4 minor failure (4xx), 8 serious failure (5xx), 12 major failure when no
// status was recorded (the request never completed).
func statusOutcome(status int) *ae.AuditEvent_OutcomeCode {
	switch {
	case status == auditrec.StatusIncomplete || status <= 0:
		return outcomeMajor
	case status >= 500:
		return outcomeSerious
	case status >= 400:
		return outcomeMinor
	default:
		return outcomeSuccess
	}
}

// nodeAgent is the client's agent: the node node_auth established (who =
// registered id, display name), or else whatever identity the client
// presented (certificate subject); altId is the presented certificate's
// SHA-256 fingerprint; network the client's IP address.
func (x *build) nodeAgent(typ *d.CodeableConcept, requestor bool) *ae.AuditEvent_Agent {
	a := x.agent()
	a.Type = typ
	a.Who = x.nodeRef()
	a.AltId = x.str(x.rec.NodeFingerprint)
	a.Name = x.str(x.rec.NodeName)
	a.Requestor = boolElem(requestor)
	a.Network = x.ipNetwork()
	return a
}

// nodeRef identifies the client as far as it is known.
func (x *build) nodeRef() *d.Reference {
	r := x.ref()
	if id := clean(x.rec.NodeID); id != "" {
		r.Identifier = x.identifier(SystemNodeID, id)
		if r.Display = x.str(x.rec.NodeName); r.Display == nil {
			r.Display = x.rawStr(id)
		}
		return r
	}
	if r.Display = x.str(x.rec.CertSubject); r.Display == nil {
		r.Display = x.rawStr("unidentified client")
	}
	return r
}

// userAgent is a person at the admin door (who = account id, an email).
func (x *build) userAgent(typ *d.CodeableConcept, requestor, withNetwork bool) *ae.AuditEvent_Agent {
	a := x.agent()
	a.Type = typ
	a.Who = x.userRef(x.rec.UserID, x.rec.UserName)
	a.Name = x.str(x.rec.UserName)
	a.Requestor = boolElem(requestor)
	if r := clean(x.rec.UserRole); r != "" {
		c := take(x.concepts[:], &x.n.concepts)
		c.Text = x.rawStr(r)
		a.Role = append(x.roleP[:0], c)
	}
	if withNetwork {
		a.Network = x.ipNetwork()
	}
	return a
}

// userRef identifies a person by account id.
func (x *build) userRef(id, name string) *d.Reference {
	r := x.ref()
	r.Display = x.str(name)
	if v := clean(id); v != "" {
		r.Identifier = x.identifier(SystemUserID, v)
		if r.Display == nil {
			r.Display = x.rawStr(v)
		}
	}
	if r.Display == nil {
		r.Display = x.rawStr("unidentified person")
	}
	return r
}

// gatewayAgent is the gateway itself as a participant.
func (x *build) gatewayAgent(typ *d.CodeableConcept, requestor bool) *ae.AuditEvent_Agent {
	a := x.agent()
	a.Type = typ
	a.Who = x.b.gw
	a.Requestor = boolElem(requestor)
	a.Network = x.hostNetwork()
	return a
}

// serverAgent is the registry the request went to (who and network = the
// upstream URL), or the gateway when nothing was forwarded.
func (x *build) serverAgent(typ *d.CodeableConcept) *ae.AuditEvent_Agent {
	up := clean(x.rec.Upstream)
	if up == "" {
		return x.gatewayAgent(typ, false)
	}
	a := x.agent()
	a.Type = typ
	a.Who = x.ref()
	a.Who.Display = x.rawStr(up)
	a.Requestor = boolFalse
	a.Network = x.network(up, netURI)
	return a
}

// ipNetwork is the client's IP address, if known.
func (x *build) ipNetwork() *ae.AuditEvent_Agent_Network {
	s := clean(x.rec.ClientIP)
	if s == "" {
		return nil
	}
	return x.network(s, netIP)
}

// hostNetwork is the gateway's own network access point as the client
// addressed it: the SNI name, else the Host header without its port.
func (x *build) hostNetwork() *ae.AuditEvent_Agent_Network {
	h := x.rec.TLSServerName
	if h == "" {
		h = x.rec.Host
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
	}
	s := clean(h)
	if s == "" {
		return nil
	}
	return x.network(s, netMachine)
}

func boolElem(v bool) *d.Boolean {
	if v {
		return boolTrue
	}
	return boolFalse
}

// statusText is "HTTP 404" for outcome descriptions.
func statusText(status int) string {
	return "HTTP " + strconv.Itoa(status)
}
