package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/crgate/crgate/bench/driver"
)

// TestFHIRGuardBundleScanner: the 1 MB Bundle make bench posts passes
// whole and byte-identical, with and without a Content-Length; Bundles
// that parsers would read differently (lone surrogates, Unicode case
// variants of member names, duplicates past the scanner's pairwise limit),
// entries whose resource is of another type than their url names, and
// invalid JSON are refused with 400 invalid_bundle and reach nothing.
func TestFHIRGuardBundleScanner(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	fhirJSON := http.Header{"Content-Type": {"application/fhir+json"}}
	big := string(driver.Bundle(driver.BundleSize))
	var many strings.Builder
	for i := range 40 {
		fmt.Fprintf(&many, `"k%d":1,`, i)
	}
	refused := []struct{ name, body string }{
		{"lone-surrogate-keys", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient","x\ud800":1,"x\udc00":2}}]}`},
		{"lone-surrogate-value", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/\ud800"}}]}`},
		{"long-s-resource", `{"resourceType":"Bundle","type":"batch","entry":[{"reſource":{"resourceType":"Bundle"},"request":{"method":"GET","url":"Patient"}}]}`},
		{"long-s-request", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient"},"requeſt":{"method":"POST","url":"Patient/$expunge"}}]}`},
		{"duplicate-after-40", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{` + many.String() + `"method":"GET","url":"Patient","URL":"Patient/$expunge"}}]}`},
		{"nan", `{"resourceType":"Bundle","type":"batch","x":NaN,"entry":[]}`},
		{"trailing-comma", `{"resourceType":"Bundle","type":"batch","entry":[],}`},
		{"big-then-garbage", big + "x"},
		// HAPI creates or updates an entry's resource as its own type,
		// whatever the url names: judged as a Patient, run as an
		// Observation, a Subscription or a SearchParameter.
		{"post-type-confusion", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Subscription","channel":{"type":"rest-hook","endpoint":"http://127.0.0.1:9200/"}},"request":{"method":"POST","url":"Patient"}}]}`},
		{"put-type-confusion", `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Observation","id":"p-0001"},"request":{"method":"PUT","url":"Patient/p-0001"}}]}`},
		{"conditional-put-type-confusion", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"SearchParameter"},"request":{"method":"PUT","url":"Patient?identifier=a|b"}}]}`},
	}
	bothProtocols(t, func(t *testing.T, proto clientOption) {
		delta := g.client(t, "delta", proto)
		t.Run("ok/1mb-bundle", func(t *testing.T) {
			before := len(g.sim.records(t))
			r, err := g.h2or1(delta, "POST", "/fhir", fhirJSON, big)
			if err != nil {
				t.Fatal(err)
			}
			if _, oerr := outcomeReason(r); oerr == nil {
				t.Fatalf("refused: %d %s", r.status, r.body)
			}
			g.expectBody(t, before, big)
		})
		t.Run("ok/1mb-bundle-no-length", func(t *testing.T) {
			before := len(g.sim.records(t))
			// A reader without a known length: chunked over HTTP/1.1, no
			// content-length over HTTP/2.
			req, err := http.NewRequest("POST", fmt.Sprintf("https://localhost:%d/fhir", g.port), io.MultiReader(strings.NewReader(big)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = fhirJSON.Clone()
			resp, err := delta.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 400 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			g.expectBody(t, before, big)
		})
		for _, tc := range refused {
			t.Run("fail/"+tc.name, func(t *testing.T) {
				before := len(g.sim.records(t))
				r, err := g.h2or1(delta, "POST", "/fhir", fhirJSON, tc.body)
				if err != nil {
					t.Fatal(err)
				}
				reason, oerr := outcomeReason(r)
				if r.status != http.StatusBadRequest || oerr != nil || reason != "fhir_guard/invalid_bundle" {
					t.Fatalf("status %d, reason %q, %v; want 400 fhir_guard/invalid_bundle", r.status, reason, oerr)
				}
				if recs := g.sim.records(t)[before:]; len(recs) != 0 {
					t.Fatalf("simulator saw %s %s", recs[0].Method, recs[0].RequestURI)
				}
			})
		}
	})
}

// expectBody checks that the simulator saw exactly one request since
// before, a POST /fhir carrying body byte for byte.
func (g *gateway) expectBody(t *testing.T, before int, body string) {
	t.Helper()
	recs := g.sim.records(t)[before:]
	if len(recs) != 1 {
		t.Fatalf("simulator saw %d requests, want 1", len(recs))
	}
	if recs[0].Method != "POST" || recs[0].RequestURI != "/fhir" {
		t.Errorf("simulator saw %s %s, want POST /fhir", recs[0].Method, recs[0].RequestURI)
	}
	if recs[0].BodyBytes != int64(len(body)) || recs[0].BodySHA256 != sha256Hex(body) {
		t.Errorf("simulator got a body of %d bytes, want the %d sent", recs[0].BodyBytes, len(body))
	}
}
