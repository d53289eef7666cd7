package fhirguard

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/gate"
)

// BenchmarkGuardSearch is fhir_guard's whole per-request cost for a PDQm
// search with every profile on: headers, canonicalise, classify, publish,
// profiles, scopes, search reach, path rewrite.
func BenchmarkGuardSearch(b *testing.B) {
	t := &testing.T{}
	g := newGuard(t, &Guard{Bases: []string{"/fhir", "/hapi/fhir"}, Profiles: []string{"hapi", "opencr", "elasticsearch"}})
	// Production logs run at Info: the Debug per-request lines are off.
	g.logger = zap.NewNop()
	node := testNode(t, "Patient.search", "Patient.read")
	r := httptest.NewRequest(http.MethodGet, "https://localhost/", nil)
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	gate.SetNode(r, node)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	const target = "/fhir/Patient?family=Smith&given=John&_count=10"
	b.ReportAllocs()
	for b.Loop() {
		r.RequestURI = target
		if err := g.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
}
