package testpeer

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
)

// NewUUID returns a random version 4 UUID.
func NewUUID(t testing.TB) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// AuditEvent returns a valid FHIR R4 AuditEvent shaped like crgate's BALP
// RESTful events (a Patient read by a node), compact JSON. The patient's
// display holds non-ASCII text, so that byte and character counts differ;
// pad adds that many bytes of query text to make large events.
func AuditEvent(t testing.TB, seq uint64, patient string, pad int) auditsink.Event {
	t.Helper()
	id := NewUUID(t)
	rec := time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC).Add(time.Duration(seq) * 1234567 * time.Microsecond)
	query := "GET /fhir/Patient/" + patient + "?_pad=" + strings.Repeat("x", pad)
	ev := map[string]any{
		"resourceType": "AuditEvent",
		"id":           id,
		"type":         map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "Restful Operation"},
		"subtype":      []any{map[string]any{"system": "http://hl7.org/fhir/restful-interaction", "code": "read", "display": "read"}},
		"action":       "R",
		"recorded":     rec.Format("2006-01-02T15:04:05.000000Z07:00"),
		"outcome":      "0",
		"agent": []any{
			map[string]any{
				"type":      map[string]any{"coding": []any{map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110153", "display": "Source Role ID"}}},
				"who":       map[string]any{"identifier": map[string]any{"system": "urn:crgate:node", "value": "node-a"}, "display": "Node A — Ünïcødé 名前"},
				"requestor": true,
				"network":   map[string]any{"address": "127.0.0.1", "type": "2"},
			},
			map[string]any{
				"type":      map[string]any{"coding": []any{map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110152", "display": "Destination Role ID"}}},
				"who":       map[string]any{"display": "registry"},
				"requestor": false,
				"network":   map[string]any{"address": "http://127.0.0.1:3000", "type": "5"},
			},
		},
		"source": map[string]any{
			"site":     "crgate-test",
			"observer": map[string]any{"display": "crgate"},
			"type":     []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4"}},
		},
		"entity": []any{
			map[string]any{
				"what": map[string]any{"reference": "Patient/" + patient},
				"type": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
				"role": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"},
			},
			map[string]any{
				"type":  map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"},
				"role":  map[string]any{"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "24"},
				"query": base64.StdEncoding.EncodeToString([]byte(query)),
			},
		},
	}
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return auditsink.Event{Seq: seq, ID: id, Recorded: rec, JSON: data}
}

// AuditEventSized is AuditEvent with JSON of exactly size bytes (at least
// about 2 KiB), padded through the query and the source site.
func AuditEventSized(t testing.TB, seq uint64, patient string, size int) auditsink.Event {
	t.Helper()
	base := AuditEvent(t, seq, patient, 0)
	pad := max(0, (size-len(base.JSON))*3/4-8)
	ev := AuditEvent(t, seq, patient, pad)
	short := size - len(ev.JSON)
	if short < 0 {
		t.Fatalf("AuditEventSized: %d bytes is too small", size)
	}
	ev.JSON = []byte(strings.Replace(string(ev.JSON), `"site":"crgate-test"`, `"site":"crgate-test`+strings.Repeat("-", short)+`"`, 1))
	if len(ev.JSON) != size {
		t.Fatalf("AuditEventSized: made %d bytes, want %d", len(ev.JSON), size)
	}
	return ev
}
