// Package auditrec is the audit record: the small set of facts crgate
// captures about a request, a refused handshake or an application event,
// cheaply, on the request path. Turning a record into a FHIR AuditEvent
// (internal/balp) and delivering it happen off the request path.
package auditrec

import (
	"time"

	"github.com/crgate/crgate/internal/fhirreq"
)

// Kind is what a record describes.
type Kind uint8

const (
	// KindRequest is an HTTP request that reached the gateway: served,
	// refused by a guard, or failed upstream.
	KindRequest Kind = iota + 1
	// KindHandshake is a TLS handshake the gateway refused (no
	// certificate, unknown CA, expired, revoked, unregistered node, …).
	KindHandshake
	// KindApplicationStart and KindApplicationStop are the audit app
	// starting and stopping (DICOM 110100 Application Activity).
	KindApplicationStart
	KindApplicationStop
	// KindUserLogin and KindUserLogout are a person's login (success or
	// failure) and logout or session end at the admin door (DICOM 110114
	// User Authentication, 110122 Login / 110123 Logout).
	KindUserLogin
	KindUserLogout
	// KindUserAccountChange is a change to a person's account: creation,
	// disable/enable, password change or reset, TOTP reset, lockout (a
	// security alert, DICOM 110113, with the change in Action).
	KindUserAccountChange
)

// Outcome overrides for records whose completion is unknown.
const (
	// StatusIncomplete marks a request whose completion was never
	// recorded: the gateway stopped (or crashed) while it was in flight.
	StatusIncomplete = -1
)

// Record is one audit record. Fields irrelevant to a Kind are zero.
type Record struct {
	Kind Kind

	// ID is the event's identity, a UUID assigned at capture; sinks use it
	// to make redelivery idempotent (at-least-once delivery).
	ID string

	// Time is when the request arrived (or the handshake failed, or the
	// application event happened).
	Time time.Time
	// Duration is how long the gateway took to answer.
	Duration time.Duration

	// The node, when node_auth established one (or, for a refused
	// handshake, whatever certificate was presented).
	NodeID          string
	NodeName        string
	NodeFingerprint string // certfp form
	CertSubject     string // presented certificate's subject, when node_auth did not name the node

	// The person, for the admin door's records (KindUser*): UserID is the
	// account's email, UserRole "admin" or "user". Action names an account
	// change, e.g. "created", "disabled", "password_changed", "locked".
	// Actor is who made an account change, when not the person.
	UserID   string
	UserName string
	UserRole string
	Action   string
	Actor    string

	// ClientIP is the client's address as Caddy determines it (client_ip,
	// which honours trusted_proxies); ClientPort its port, when known.
	ClientIP   string
	ClientPort int

	// The request as received.
	Method    string
	URI       string // path and query exactly as received (RequestURI)
	Host      string
	Proto     string // e.g. "HTTP/2.0"
	RequestID string // X-Request-Id (minted by the gateway when absent)
	// SearchBody is the form body of a POST _search (bounded), for the
	// query entity; empty otherwise.
	SearchBody string
	// TLSServerName is the SNI the client sent.
	TLSServerName string

	// FHIR is how the request classifies as a FHIR interaction; Valid is
	// false for requests that are not FHIR (tester UI, ES, admin paths…).
	FHIR fhirreq.Interaction

	// Status is the HTTP status sent (StatusIncomplete if unknown);
	// BytesOut the response body size.
	Status   int
	BytesOut int64

	// Refusal is set when a guard (or the handshake verifier) refused.
	RefusalModule string // e.g. "node_auth", "fhir_guard", "subnet_guard", "tls"
	RefusalReason string // stable label, e.g. "unregistered_certificate"
	RefusalDetail string // human-readable

	// Upstream is the registry the request was forwarded to (a URL such
	// as "http://127.0.0.1:3000"), for the server agent's network address.
	Upstream string

	// Upstream failure (status 502/503/504 from the proxy), or a response
	// that ended in a panic ("response aborted mid-body" when the proxy
	// aborted it after the status was sent, "handler panic"), if any.
	Error string
}

// Recorder accepts records for the audit pipeline. The audit app
// implements it; other capabilities (e.g. admin_login) find it with
// FromContext and never import the audit package.
type Recorder interface {
	// Record hands a finished record to the pipeline. It must not block on
	// I/O beyond what the pipeline's durability mode promises, and it
	// returns an error only when the record could not be accepted (spool
	// full under fail_closed), in which case the caller must refuse what
	// it was about to do.
	Record(rec *Record) error
}
