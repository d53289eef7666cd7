package fhirguard

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// FuzzScanBundle compares bundleScanner with encoding/json and with the
// reader it replaced (checkJSONShape + json.Unmarshal): whatever either
// refuses, the scanner refuses; what the scanner accepts, it reads as they
// do. The scanner may refuse more only where parsers disagree: a lone
// UTF-16 surrogate, or member names equal ignoring case by one of
// strings.ToLower and strings.EqualFold but not the other.
// Seed corpus: testdata/fuzz/FuzzScanBundle.
func FuzzScanBundle(f *testing.F) {
	f.Add([]byte(bundleOf("batch", entry("GET", "Patient/1"), `{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=a|b"}}`)))
	f.Add([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[null,{"request":{"method":"G\u0045T","url":"Patient\/1"}}],"n":[-0.5e+3,true,false,null,{}]}`))
	for _, seed := range []string{
		`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient","Url":"x"}}]}`,
		`{"resourceType":"Bundle","x":{"a":1,"A":2},"\u0041":"\ud83d\ude00\ud800"}`,
		`{"resourceType":"Bundle","reſource":1,"Kind":2,"kind":3,"İd":4,"id":5,"ıd":6}`,
		`{"resourceType":"Bundle","x":[[[[{"y":[1e5,-0,0.1E-2,"\"\\\/\b\f\n\r\t"]}]]]]}`,
		`{"resourceType":"Bundle","entry":{"request":{}}}`,
		"\ufeff{}",
		`{"resourceType":"Bundle","type":"batch"} {}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Bundle"},"request":{"method":"POST","url":"Bundle"}}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := scanBundle(body)
		defer s.release()
		old, oldErr := legacyScan(body)
		valid := json.Valid(body)
		switch {
		case err == nil && !valid:
			t.Fatalf("accepted what encoding/json says is invalid: %q", body)
		case err == nil && oldErr != nil:
			t.Fatalf("accepted what the old reader refused (%v): %q", oldErr, body)
		case err == nil:
			if d := diffLegacy(&s.b, old); d != "" {
				t.Fatalf("%s: %q", d, body)
			}
		case oldErr == nil && !refusesMoreOnPurpose(err):
			t.Fatalf("refused (%v) what the old reader accepts: %q", err, body)
		}
	})
}

// refusesMoreOnPurpose is whether err is one the scanner gives where the
// old reader accepted on purpose: lone surrogates and the wider case
// folding.
func refusesMoreOnPurpose(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "lone UTF-16 surrogate") ||
		strings.Contains(msg, "more than once (ignoring case)") ||
		strings.Contains(msg, "must be spelled")
}

// diffLegacy says how the scanner's reading differs from the old one, or "".
func diffLegacy(b *bundle, old *legacyBundle) string {
	if b.resourceType != old.ResourceType || b.typ != old.Type {
		return fmt.Sprintf("read %q/%q, old reader %q/%q", b.resourceType, b.typ, old.ResourceType, old.Type)
	}
	if len(b.entries) != len(old.Entry) {
		return fmt.Sprintf("%d entries, old reader %d", len(b.entries), len(old.Entry))
	}
	for i, e := range old.Entry {
		want := bundleEntry{hasRequest: e.Request != nil}
		if e.Resource != nil {
			want.resourceType = e.Resource.ResourceType
		}
		if e.Request != nil {
			want.method, want.url, want.ifNoneExist = e.Request.Method, e.Request.URL, e.Request.IfNoneExist
		}
		if b.entries[i] != want {
			return fmt.Sprintf("entry %d read %+v, old reader %+v", i, b.entries[i], want)
		}
	}
	return ""
}
