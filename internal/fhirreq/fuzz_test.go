package fhirreq

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzCanonicalize: Canonicalize never panics; what it accepts is its own
// canonical form, unchanged by any further percent-decoding, and contains
// none of what it refuses.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{
		"/", "/fhir/Patient", "/fhir/Patient/%24ihe-pix", "/home;jsessionid=x", "/fhir/..;/home",
		"/fhir/%2e%2e/home", "/fhir%2fPatient", "/fhir%5cPatient", "/fhir//Patient", "/fhir/./Patient",
		"/fhir/%c0%ae%c0%ae/home", "/fhir/%e0%80%ae", "/fhir/%252e", "/fhir/Patient/", "/fhir/%50atient",
		"/fhir/\xc0\xaf", "/fhir/Pati%C3%A9nt", "/fhir/%", "/fhir/%0", "/fhir/a%00b", "http://x/fhir",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := Canonicalize(raw)
		if err != nil {
			if out != "" {
				t.Fatalf("refusal with output %q", out)
			}
			return
		}
		again, err := Canonicalize(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", raw, out, again, err)
		}
		if dec, err := url.PathUnescape(out); err != nil || dec != out {
			t.Fatalf("a second decode changes %q to %q (%v)", out, dec, err)
		}
		if dec, err := url.PathUnescape(raw); err != nil || dec != out {
			t.Fatalf("Go decodes %q as %q, Canonicalize as %q", raw, dec, out)
		}
		if strings.ContainsAny(out, ";\\%?#\x00+*,:@") || strings.Contains(out, "//") {
			t.Fatalf("output %q contains a refused character", out)
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < 0x21 || c >= 0x7f {
				t.Fatalf("output %q contains byte %#x", out, c)
			}
		}
		if out != "/" && strings.HasSuffix(out, "/") {
			t.Fatalf("output %q ends in '/'", out)
		}
		for seg := range strings.SplitSeq(out[1:], "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("output %q has a dot segment", out)
			}
		}
	})
}
