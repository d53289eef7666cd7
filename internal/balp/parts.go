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

// newEvent starts an event with what every event carries.
func (b *Builder) newEvent(rec *auditrec.Record, typ *d.Coding, action *ae.AuditEvent_ActionCode, sub ...*d.Coding) *ae.AuditEvent {
	return &ae.AuditEvent{
		Id:       &d.Id{Value: rec.ID},
		Type:     typ,
		Subtype:  sub,
		Action:   action,
		Recorded: instant(rec.Time),
		Source:   b.sourceElem(),
	}
}

// sourceElem is AuditEvent.source: the gateway, an application server.
func (b *Builder) sourceElem() *ae.AuditEvent_Source {
	return &ae.AuditEvent_Source{
		Site:     str(b.src.Site),
		Observer: b.gatewayRef(),
		Type:     []*d.Coding{sourceAppServer},
	}
}

// gatewayRef identifies this gateway (source.observer, and the gateway's
// own agent).
func (b *Builder) gatewayRef() *d.Reference {
	return &d.Reference{
		Identifier: &d.Identifier{System: &d.Uri{Value: SystemObserver}, Value: &d.String{Value: b.src.ObserverID}},
		Display:    str(b.src.ObserverName),
	}
}

// instant is t as a FHIR instant in UTC with microseconds.
func instant(t time.Time) *d.Instant {
	return &d.Instant{ValueUs: t.UnixMicro(), Timezone: "Z", Precision: d.Instant_MICROSECOND}
}

// dateTime is t as a FHIR dateTime in UTC with microseconds.
func dateTime(t time.Time) *d.DateTime {
	return &d.DateTime{ValueUs: t.UnixMicro(), Timezone: "Z", Precision: d.DateTime_MICROSECOND}
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
func nodeAgent(rec *auditrec.Record, typ *d.CodeableConcept, requestor bool) *ae.AuditEvent_Agent {
	a := &ae.AuditEvent_Agent{
		Type:      typ,
		Who:       nodeRef(rec),
		AltId:     str(rec.NodeFingerprint),
		Name:      str(rec.NodeName),
		Requestor: boolElem(requestor),
		Network:   ipNetwork(rec.ClientIP),
	}
	return a
}

// nodeRef identifies the client as far as it is known.
func nodeRef(rec *auditrec.Record) *d.Reference {
	if id := clean(rec.NodeID); id != "" {
		disp := str(rec.NodeName)
		if disp == nil {
			disp = &d.String{Value: id}
		}
		return &d.Reference{
			Identifier: &d.Identifier{System: &d.Uri{Value: SystemNodeID}, Value: &d.String{Value: id}},
			Display:    disp,
		}
	}
	if s := str(rec.CertSubject); s != nil {
		return &d.Reference{Display: s}
	}
	return &d.Reference{Display: &d.String{Value: "unidentified client"}}
}

// userAgent is a person at the admin door (who = account id, an email).
func userAgent(rec *auditrec.Record, typ *d.CodeableConcept, requestor bool, withNetwork bool) *ae.AuditEvent_Agent {
	a := &ae.AuditEvent_Agent{
		Type:      typ,
		Who:       userRef(rec.UserID, rec.UserName),
		Name:      str(rec.UserName),
		Requestor: boolElem(requestor),
	}
	if r := clean(rec.UserRole); r != "" {
		a.Role = []*d.CodeableConcept{{Text: &d.String{Value: r}}}
	}
	if withNetwork {
		a.Network = ipNetwork(rec.ClientIP)
	}
	return a
}

// userRef identifies a person by account id.
func userRef(id, name string) *d.Reference {
	r := &d.Reference{Display: str(name)}
	if v := clean(id); v != "" {
		r.Identifier = &d.Identifier{System: &d.Uri{Value: SystemUserID}, Value: &d.String{Value: v}}
		if r.Display == nil {
			r.Display = &d.String{Value: v}
		}
	}
	if r.Display == nil {
		r.Display = &d.String{Value: "unidentified person"}
	}
	return r
}

// gatewayAgent is the gateway itself as a participant.
func (b *Builder) gatewayAgent(rec *auditrec.Record, typ *d.CodeableConcept, requestor bool) *ae.AuditEvent_Agent {
	return &ae.AuditEvent_Agent{
		Type:      typ,
		Who:       b.gatewayRef(),
		Requestor: boolElem(requestor),
		Network:   hostNetwork(rec),
	}
}

// serverAgent is the registry the request went to (who and network = the
// upstream URL), or the gateway when nothing was forwarded.
func (b *Builder) serverAgent(rec *auditrec.Record, typ *d.CodeableConcept) *ae.AuditEvent_Agent {
	up := clean(rec.Upstream)
	if up == "" {
		return b.gatewayAgent(rec, typ, false)
	}
	return &ae.AuditEvent_Agent{
		Type:      typ,
		Who:       &d.Reference{Display: &d.String{Value: up}},
		Requestor: boolFalse,
		Network:   &ae.AuditEvent_Agent_Network{Address: &d.String{Value: up}, Type: netURI},
	}
}

func ipNetwork(ip string) *ae.AuditEvent_Agent_Network {
	s := clean(ip)
	if s == "" {
		return nil
	}
	return &ae.AuditEvent_Agent_Network{Address: &d.String{Value: s}, Type: netIP}
}

// hostNetwork is the gateway's own network access point as the client
// addressed it: the SNI name, else the Host header without its port.
func hostNetwork(rec *auditrec.Record) *ae.AuditEvent_Agent_Network {
	h := rec.TLSServerName
	if h == "" {
		h = rec.Host
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
	}
	s := clean(h)
	if s == "" {
		return nil
	}
	return &ae.AuditEvent_Agent_Network{Address: &d.String{Value: s}, Type: netMachine}
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
