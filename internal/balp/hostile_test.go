package balp

import (
	"bytes"
	"testing"
)

// TestHostileRecords: whatever a record carries, the event validates with
// google/fhir/go's validating unmarshaller, stays bounded in size, keeps
// no raw control or line-separator characters outside the base64 query,
// and the fast encoder still writes exactly what jsonformat writes.
func TestHostileRecords(t *testing.T) {
	fast := newTestBuilder(t, testSource())
	refSrc := testSource()
	refSrc.Reference = true
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
