package fhirguard

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/crgate/crgate/bench/driver"
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

// benchBundle is the 1 MB batch Bundle of Patient creates that make
// bench's post1mb workload sends.
func benchBundle() []byte { return driver.Bundle(driver.BundleSize) }

// BenchmarkBundleRead compares bundleScanner with the reader it replaced
// (checkJSONShape + json.Unmarshal) on the 1 MB Bundle.
func BenchmarkBundleRead(b *testing.B) {
	body := benchBundle()
	b.Run("scanner", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			s, err := scanBundle(body)
			if err != nil {
				b.Fatal(err)
			}
			s.release()
		}
	})
	b.Run("legacy", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := legacyScan(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGuardBundle1MB is fhir_guard's whole cost for the 1 MB Bundle
// POST: read the body, scan it, judge its ~750 entries, put it back.
func BenchmarkGuardBundle1MB(b *testing.B) {
	t := &testing.T{}
	g := newGuard(t, &Guard{Bases: []string{"/fhir"}, Profiles: []string{"hapi", "opencr", "elasticsearch"}})
	g.logger = zap.NewNop()
	node := testNode(t, "Patient.create", "system.batch")
	body := benchBundle()
	rd := bytes.NewReader(body)
	r := httptest.NewRequest(http.MethodPost, "https://localhost/", rd)
	r.Header.Set("Content-Type", "application/fhir+json")
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	gate.SetNode(r, node)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		r.Body = io.NopCloser(rd)
		r.ContentLength = int64(len(body))
		r.RequestURI = "/fhir"
		if err := g.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
}
