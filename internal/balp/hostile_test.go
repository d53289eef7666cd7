package balp

import (
	"bytes"
	"testing"
	"time"

	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/fhirreq"
)

// TestHostileRecords: whatever a record carries, the event validates with
// google/fhir/go's validating unmarshaller, stays bounded in size, keeps
// no raw control or line-separator characters outside the base64 query,
// and the fast encoder still writes exactly what jsonformat writes.
func TestHostileRecords(t *testing.T) {
	fast := newTestBuilder(t, testSource())
	refSrc := testSource()
	refSrc.JSONFormat = true
	ref := newTestBuilder(t, refSrc)
	u := fhirUnmarshaller(t)
	for i, rec := range hostileRecords() {
		out, err := fast.Marshal(rec)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if _, err := u.Unmarshal(out); err != nil {
			t.Errorf("record %d: event does not validate: %v\n%s", i, err, out)
		}
		if len(out) > 32*1024 {
			t.Errorf("record %d: event is %d bytes, over a syslog receiver's 32 KiB", i, len(out))
		}
		for _, bad := range [][]byte{{'\n'}, {'\r'}, {0}, []byte("\u2028"), []byte("\u0085"), []byte("\u00a0")} {
			if bytes.Contains(out, bad) {
				t.Errorf("record %d: event contains raw %q", i, bad)
			}
		}
		assertSameBytes(t, fast, ref, rec)
	}
}

// FuzzEncoders: for records carrying arbitrary text in every free-text
// field, the fast encoder writes exactly what jsonformat writes, and the
// event validates.
func FuzzEncoders(f *testing.F) {
	f.Add("Clinic \u2028 7", "x\x00\xff", "/fhir/Patient?identifier=a|b", "refused\n", "CN=a\"b\\", uint8(1), 403)
	f.Add("", "", "", "", "", uint8(2), 0)
	f.Add("é", "\u00a0", "?patient=1", "", "", uint8(7), 500)
	fast := newTestBuilder(f, testSource())
	refSrc := testSource()
	refSrc.JSONFormat = true
	ref := newTestBuilder(f, refSrc)
	u := fhirUnmarshaller(f)
	f.Fuzz(func(t *testing.T, name, id, uri, detail, subject string, kind uint8, status int) {
		rec := served("search-type", "GET", uri, fhirreq.Interaction{ResourceType: "Patient"})
		rec.Kind = auditrec.Kind(kind%7 + 1)
		rec.NodeName, rec.NodeID, rec.CertSubject = name, id, subject
		rec.UserID, rec.UserName, rec.Action, rec.Actor = id, name, detail, subject
		rec.RefusalDetail, rec.Error, rec.Status = detail, detail, status
		if status%3 == 0 {
			rec.RefusalModule, rec.RefusalReason = "fhir_guard", name
		}
		out, err := fast.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Unmarshal(out); err != nil {
			t.Fatalf("event does not validate: %v\n%s", err, out)
		}
		assertSameBytes(t, fast, ref, rec)
	})
}

// TestTimesMatchJSONFormat: instants and dateTimes, written by hand by the
// fast encoder, match jsonformat's across whole seconds, pre-1970 and the
// ends of FHIR's year range.
func TestTimesMatchJSONFormat(t *testing.T) {
	fast := newTestBuilder(t, testSource())
	refSrc := testSource()
	refSrc.JSONFormat = true
	ref := newTestBuilder(t, refSrc)
	u := fhirUnmarshaller(t)
	for _, tm := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 6, 1, 12, 0, 0, 1, time.FixedZone("EAT", 3*3600)),
	} {
		rec := served("read", "GET", "/fhir/Patient/1", fhirreq.Interaction{ResourceType: "Patient", ID: "1"})
		rec.Time, rec.Duration = tm, 1500*time.Microsecond
		if tm.Year() == 9999 {
			rec.Duration = time.Hour // the period's end would pass year 9999: no period
		}
		assertSameBytes(t, fast, ref, rec)
		out, err := fast.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Unmarshal(out); err != nil {
			t.Errorf("%v: %v", tm, err)
		}
	}
}
