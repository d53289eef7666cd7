package balp

import (
	"time"

	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/fhirreq"
)

var testTime = time.Date(2026, 11, 23, 10, 0, 0, 123456000, time.UTC)

const testFP = "3F:2A:9C:11:00:AB:CD:EF:01:23:45:67:89:AB:CD:EF:3F:2A:9C:11:00:AB:CD:EF:01:23:45:67:89:AB:CD:EF"

const testReqID = "9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e"

func testSource() Source {
	return Source{Site: "crgate-test", ObserverID: "gw-1.example", ObserverName: "crgate gw-1"}
}

// served is a served FHIR request from node clinic-7.
func served(code, method, uri string, in fhirreq.Interaction) *auditrec.Record {
	in.Valid = true
	in.Code = code
	if in.Base == "" {
		in.Base = "/fhir"
	}
	return &auditrec.Record{
		Kind:            auditrec.KindRequest,
		ID:              "6f1c2a4e-0b7d-4c1e-9a55-1d2f3e4a5b6c",
		Time:            testTime,
		Duration:        12 * time.Millisecond,
		NodeID:          "clinic-7",
		NodeName:        "Clinic 7 (Kisumu)",
		NodeFingerprint: testFP,
		ClientIP:        "127.0.0.2",
		ClientPort:      50312,
		Method:          method,
		URI:             uri,
		Host:            "registry.example:9443",
		Proto:           "HTTP/2.0",
		RequestID:       testReqID,
		TLSServerName:   "registry.example",
		FHIR:            in,
		Status:          200,
		BytesOut:        1234,
		Upstream:        "http://127.0.0.1:3000",
	}
}

// goldenCase is one record and what its event must be.
type goldenCase struct {
	name string
	rec  *auditrec.Record
}

func goldenCases() []goldenCase {
	var cs []goldenCase
	add := func(name string, rec *auditrec.Record, mod ...func(*auditrec.Record)) {
		for _, m := range mod {
			m(rec)
		}
		cs = append(cs, goldenCase{name, rec})
	}
	add("rest-search-pdqm", served("search-type", "GET", "/fhir/Patient?family=MOHR&given=ALICE&identifier=urn:oid:1.2.3|4711", fhirreq.Interaction{ResourceType: "Patient"}))
	add("rest-search-post", served("search-type", "POST", "/fhir/Patient/_search", fhirreq.Interaction{ResourceType: "Patient"}), func(r *auditrec.Record) {
		r.SearchBody = "family=MOHR&_id=123"
	})
	add("rest-search-observation-patients", served("search-type", "GET", "/fhir/Observation?patient=123,Patient/456&subject=Group/9&code=8480-6", fhirreq.Interaction{ResourceType: "Observation"}))
	add("rest-pixm", served("operation", "GET", "/fhir/Patient/$ihe-pix?sourceIdentifier=urn:oid:1.3.6.1.4.1.21367.13.20.1000|IHERED-994&targetSystem=urn:oid:1.3.6.1.4.1.21367.13.20.2000", fhirreq.Interaction{ResourceType: "Patient", Operation: "ihe-pix"}))
	add("rest-read-patient", served("read", "GET", "/fhir/Patient/123", fhirreq.Interaction{ResourceType: "Patient", ID: "123"}))
	add("rest-vread-observation", served("vread", "GET", "/fhir/Observation/obs-1/_history/3", fhirreq.Interaction{ResourceType: "Observation", ID: "obs-1", VersionID: "3"}))
	add("rest-create", served("create", "POST", "/fhir/Patient", fhirreq.Interaction{ResourceType: "Patient"}), func(r *auditrec.Record) { r.Status = 201 })
	add("rest-update", served("update", "PUT", "/fhir/Patient/123", fhirreq.Interaction{ResourceType: "Patient", ID: "123"}))
	add("rest-patch", served("patch", "PATCH", "/fhir/Observation/obs-1", fhirreq.Interaction{ResourceType: "Observation", ID: "obs-1"}))
	add("rest-delete", served("delete", "DELETE", "/fhir/Observation/obs-1", fhirreq.Interaction{ResourceType: "Observation", ID: "obs-1"}), func(r *auditrec.Record) { r.Status = 204 })
	add("rest-transaction", served("transaction", "POST", "/fhir", fhirreq.Interaction{}))
	add("rest-capabilities", served("capabilities", "GET", "/fhir/metadata", fhirreq.Interaction{}))
	add("rest-history-instance", served("history-instance", "GET", "/fhir/Patient/123/_history", fhirreq.Interaction{ResourceType: "Patient", ID: "123"}))
	add("rest-compartment", served("search-type", "GET", "/fhir/Patient/123/Observation?code=8480-6", fhirreq.Interaction{ResourceType: "Patient", ID: "123", Compartment: "Observation"}))
	add("rest-not-found", served("read", "GET", "/fhir/Patient/999", fhirreq.Interaction{ResourceType: "Patient", ID: "999"}), func(r *auditrec.Record) { r.Status = 404 })
	add("rest-upstream-failed", served("search-type", "GET", "/fhir/Patient?name=x", fhirreq.Interaction{ResourceType: "Patient"}), func(r *auditrec.Record) {
		r.Status = 502
		r.Error = "dial tcp 127.0.0.1:3000: connect: connection refused"
	})
	add("rest-incomplete", served("search-type", "GET", "/fhir/Patient?name=x", fhirreq.Interaction{ResourceType: "Patient"}), func(r *auditrec.Record) {
		r.Status = auditrec.StatusIncomplete
		r.Duration = 0
		r.BytesOut = 0
	})
	add("rest-with-user", served("search-type", "GET", "/fhir/Patient?name=x", fhirreq.Interaction{ResourceType: "Patient"}), func(r *auditrec.Record) {
		r.UserID = "ana@example.org"
		r.UserName = "Ana Admin"
		r.UserRole = "admin"
	})
	add("nonfhir-request", served("", "GET", "/crux/index.html", fhirreq.Interaction{}), func(r *auditrec.Record) {
		r.FHIR = fhirreq.Interaction{}
	})
	add("refused-node-auth", served("search-type", "GET", "/fhir/Patient?name=x", fhirreq.Interaction{ResourceType: "Patient"}), func(r *auditrec.Record) {
		r.NodeID, r.NodeName, r.Upstream = "", "", ""
		r.Status = 403
		r.RefusalModule, r.RefusalReason, r.RefusalDetail = "node_auth", "unregistered_certificate", "certificate 3F:2A:… is not in the clients file"
	})
	add("refused-fhir-guard", served("operation", "POST", "/fhir/$expunge", fhirreq.Interaction{Operation: "expunge"}), func(r *auditrec.Record) {
		r.Upstream = ""
		r.Status = 403
		r.RefusalModule, r.RefusalReason, r.RefusalDetail = "fhir_guard", "operation_blocked", "$expunge is never allowed"
	})
	add("refused-fhir-guard-patient", served("read", "GET", "/fhir/Patient/123", fhirreq.Interaction{ResourceType: "Patient", ID: "123"}), func(r *auditrec.Record) {
		r.Upstream = ""
		r.Status = 403
		r.RefusalModule, r.RefusalReason, r.RefusalDetail = "fhir_guard", "scope_denied", "scope patient.read not granted"
	})
	add("refused-subnet-guard", served("", "GET", "/crux/", fhirreq.Interaction{}), func(r *auditrec.Record) {
		r.FHIR = fhirreq.Interaction{}
		r.NodeID, r.NodeName, r.NodeFingerprint, r.Upstream = "", "", "", ""
		r.ClientIP = "192.0.2.10"
		r.Status = 403
		r.RefusalModule, r.RefusalReason, r.RefusalDetail = "subnet_guard", "outside_admin_subnets", "192.0.2.10 is not in 127.0.0.0/8"
	})
	add("refused-not-routed", &auditrec.Record{
		Kind:            auditrec.KindRequest,
		ID:              "e1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
		Time:            testTime,
		Duration:        2 * time.Millisecond,
		Proto:           "HTTP/1.1",
		NodeFingerprint: testFP,
		CertSubject:     "CN=alpha,O=Clinic",
		ClientIP:        "127.0.0.7",
		ClientPort:      41002,
		TLSServerName:   "registry.example",
		RefusalModule:   "http",
		RefusalReason:   "not_routed",
		RefusalDetail:   "the HTTP server answered this request before any route ran",
	})
	add("handshake-refused", &auditrec.Record{
		Kind:            auditrec.KindHandshake,
		ID:              "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
		Time:            testTime,
		NodeFingerprint: testFP,
		CertSubject:     "CN=rogue-node,O=Unknown",
		ClientIP:        "127.0.0.9",
		ClientPort:      41000,
		TLSServerName:   "registry.example",
		RefusalModule:   "node_auth",
		RefusalReason:   "certificate_revoked",
		RefusalDetail:   "serial 0x1f revoked by CRL",
	})
	add("handshake-no-cert", &auditrec.Record{
		Kind:          auditrec.KindHandshake,
		ID:            "b1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
		Time:          testTime,
		ClientIP:      "::1",
		RefusalModule: "tls",
		RefusalReason: "no_client_certificate",
	})
	app := func(k auditrec.Kind) *auditrec.Record {
		return &auditrec.Record{Kind: k, ID: "c1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", Time: testTime}
	}
	add("application-start", app(auditrec.KindApplicationStart))
	add("application-stop", app(auditrec.KindApplicationStop))
	user := func(k auditrec.Kind) *auditrec.Record {
		return &auditrec.Record{
			Kind: k, ID: "d1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", Time: testTime,
			UserID: "ana@example.org", UserName: "Ana Admin", UserRole: "admin",
			ClientIP: "127.0.0.1", Host: "admin.example:8443", RequestID: "r-1",
		}
	}
	add("user-login", user(auditrec.KindUserLogin))
	add("user-login-failed", user(auditrec.KindUserLogin), func(r *auditrec.Record) {
		r.Status = 401
		r.RefusalModule, r.RefusalReason, r.RefusalDetail = "admin_login", "bad_credentials", "password or TOTP code wrong"
	})
	add("user-logout", user(auditrec.KindUserLogout))
	add("user-account-change", user(auditrec.KindUserAccountChange), func(r *auditrec.Record) {
		r.UserID, r.UserName, r.UserRole = "bob@example.org", "Bob User", "user"
		r.Action = "disabled"
		r.Actor = "ana@example.org"
	})
	add("user-account-locked", user(auditrec.KindUserAccountChange), func(r *auditrec.Record) {
		r.Action = "locked"
		r.ClientIP = ""
	})
	return cs
}
