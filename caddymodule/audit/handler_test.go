package audit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/certfp"
	"github.com/crgate/crgate/internal/fhirreq"
	"github.com/crgate/crgate/internal/gate"
)

// testHandler is an audit handler over a fresh spool.
func testHandler(t *testing.T, sync, failOpen bool, maxBytes int64) (*Handler, *spool, *observer.ObservedLogs) {
	t.Helper()
	s := testSpool(t, t.TempDir(), maxBytes)
	core, logs := observer.New(zapcore.DebugLevel)
	app := &App{inflight: new(atomic.Int64), spool: s, sync: sync, failOpen: failOpen, logger: zap.NewNop()}
	return &Handler{app: app, logger: zap.New(core), MaxSearchBody: defaultMaxSearchBody}, s, logs
}

func caddyRequest(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "192.0.2.7"})
	return r.WithContext(ctx)
}

func TestHandlerRecordsOneEvent(t *testing.T) {
	node := &gate.Node{ID: "alpha", Name: "Node alpha", Fingerprint: certfp.Of([]byte("cert"))}
	cases := []struct {
		name   string
		next   caddyhttp.HandlerFunc
		check  func(t *testing.T, rec auditrec.Record)
		status int // what the handler's caller sees (0: no error)
	}{
		{
			name: "ok/served",
			next: func(w http.ResponseWriter, r *http.Request) error {
				gate.SetNode(r, node)
				gate.SetInteraction(r, &fhirreq.Interaction{Valid: true, Code: "search-type", ResourceType: "Patient"})
				r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer).Set("http.reverse_proxy.upstream.hostport", "127.0.0.1:3000")
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte("hello"))
				return nil
			},
			check: func(t *testing.T, rec auditrec.Record) {
				if rec.Status != 201 || rec.BytesOut != 5 || rec.NodeID != "alpha" || rec.NodeFingerprint != node.Fingerprint.String() ||
					!rec.FHIR.Valid || rec.FHIR.Code != "search-type" || rec.Upstream != "http://127.0.0.1:3000" ||
					rec.ClientIP != "192.0.2.7" || rec.Method != "GET" || rec.URI != "/fhir/Patient?name=x" || rec.Kind != auditrec.KindRequest {
					t.Errorf("record %+v", rec)
				}
			},
		},
		{
			name: "ok/refused-further-in",
			next: func(w http.ResponseWriter, r *http.Request) error {
				return caddyhttp.Error(http.StatusForbidden, &gate.Refusal{Module: "fhir_guard", Reason: "not_allowed", Detail: "Patient.delete"})
			},
			status: 403,
			check: func(t *testing.T, rec auditrec.Record) {
				if rec.Status != 403 || rec.RefusalModule != "fhir_guard" || rec.RefusalReason != "not_allowed" || rec.RefusalDetail != "Patient.delete" || rec.Error != "" {
					t.Errorf("record %+v", rec)
				}
			},
		},
		{
			name: "ok/upstream-failed",
			next: func(w http.ResponseWriter, r *http.Request) error {
				return caddyhttp.Error(http.StatusBadGateway, errors.New("dial tcp 127.0.0.1:3000: connection refused"))
			},
			status: 502,
			check: func(t *testing.T, rec auditrec.Record) {
				if rec.Status != 502 || !strings.Contains(rec.Error, "connection refused") || rec.RefusalModule != "" {
					t.Errorf("record %+v", rec)
				}
			},
		},
		{
			name: "ok/nothing-written",
			next: func(w http.ResponseWriter, r *http.Request) error { return nil },
			check: func(t *testing.T, rec auditrec.Record) {
				if rec.Status != 200 || rec.BytesOut != 0 {
					t.Errorf("record %+v", rec)
				}
			},
		},
	}
	for _, sync := range []bool{true, false} {
		for _, tc := range cases {
			name := tc.name + "/async"
			if sync {
				name = tc.name + "/sync"
			}
			t.Run(name, func(t *testing.T) {
				h, s, _ := testHandler(t, sync, false, 64<<20)
				r := caddyRequest("GET", "/fhir/Patient?name=x", nil)
				w := httptest.NewRecorder()
				err := h.ServeHTTP(w, r, tc.next)
				var he caddyhttp.HandlerError
				if tc.status == 0 && err != nil || tc.status != 0 && (!errors.As(err, &he) || he.StatusCode != tc.status) {
					t.Fatalf("ServeHTTP error %v, want status %d", err, tc.status)
				}
				if err := s.flush(); err != nil {
					t.Fatal(err)
				}
				got := readAll(t, s, 0)
				if len(got) != 1 {
					t.Fatalf("%d events, want exactly 1", len(got))
				}
				rid := w.Header().Get("X-Request-Id")
				if got[0].RequestID != rid || len(rid) != 36 || r.Header.Get("X-Request-Id") != rid {
					t.Errorf("request id: record %q, response %q, upstream %q", got[0].RequestID, rid, r.Header.Get("X-Request-Id"))
				}
				tc.check(t, got[0])
			})
		}
	}
}

// TestHandlerDurableBeforeForwarding reads the spool's segment files from
// inside next: under sync durability the request's record must be there.
func TestHandlerDurableBeforeForwarding(t *testing.T) {
	h, s, _ := testHandler(t, true, false, 64<<20)
	r := caddyRequest("GET", "/fhir/Patient/p-1", nil)
	r.Header.Set("X-Request-Id", "durable-check-1")
	called := false
	err := h.ServeHTTP(httptest.NewRecorder(), r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		called = true
		files, _ := filepath.Glob(filepath.Join(s.dir, "segments", "*.seg"))
		var all []byte
		for _, f := range files {
			b, _ := os.ReadFile(f)
			all = append(all, b...)
		}
		if !bytes.Contains(all, []byte("durable-check-1")) {
			t.Error("the request went further in before its record was on disk")
		}
		return nil
	}))
	if err != nil || !called {
		t.Fatalf("err %v, called %v", err, called)
	}
}

func TestHandlerSpoolFull(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sync     bool
		failOpen bool
	}{
		{"fail/closed-sync", true, false},
		{"fail/closed-async", false, false},
		{"ok/open-sync", true, true},
		{"ok/open-async", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, s, logs := testHandler(t, tc.sync, tc.failOpen, 256<<10)
			for {
				if _, err := s.append(frameStart, 0, testRecord(0), false, false); err != nil {
					break
				}
			}
			dropsBefore := testutil.ToFloat64(drops.WithLabelValues("spool_full"))
			refusedBefore := testutil.ToFloat64(requestsRefused)
			called := false
			err := h.ServeHTTP(httptest.NewRecorder(), caddyRequest("GET", "/fhir/Patient", nil),
				caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { called = true; return nil }))
			droppedNow := testutil.ToFloat64(drops.WithLabelValues("spool_full")) - dropsBefore
			refusedNow := testutil.ToFloat64(requestsRefused) - refusedBefore
			if tc.failOpen {
				if err != nil || !called || droppedNow != 1 || refusedNow != 0 {
					t.Fatalf("fail_open: err %v, forwarded %v, drops +%v, refused +%v", err, called, droppedNow, refusedNow)
				}
				return
			}
			var he caddyhttp.HandlerError
			if !errors.As(err, &he) || he.StatusCode != 503 || called || droppedNow != 0 || refusedNow != 1 {
				t.Fatalf("fail_closed: err %v, forwarded %v, drops +%v, refused +%v", err, called, droppedNow, refusedNow)
			}
			var ref *gate.Refusal
			if !errors.As(err, &ref) || ref.Module != "audit" || ref.Reason != "spool_full" {
				t.Fatalf("refusal %+v", ref)
			}
			if logs.FilterMessage("request refused: audit record not durable").FilterField(zap.String("reason", "spool_full")).Len() != 1 {
				t.Fatalf("no debug log of the refusal: %v", logs.All())
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	for _, tc := range []struct {
		name  string
		given []string
		keep  bool
	}{
		{"ok/uuid", []string{"0b3c6a4e-1d2f-4e5a-8b7c-9d0e1f2a3b4c"}, true},
		{"ok/token", []string{"abc.DEF_123:xyz-9"}, true},
		{"fail/absent", nil, false},
		{"fail/empty", []string{""}, false},
		{"fail/space", []string{"a b"}, false},
		{"fail/newline", []string{"a\nInjected: x"}, false},
		{"fail/markup", []string{"<script>"}, false},
		{"fail/too-long", []string{strings.Repeat("a", maxRequestIDLen+1)}, false},
		{"fail/two", []string{"a", "b"}, false},
		{"fail/non-ascii", []string{"é"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.given != nil {
				r.Header["X-Request-Id"] = tc.given
			}
			got := requestID(r)
			if tc.keep && got != tc.given[0] {
				t.Fatalf("got %q, want %q kept", got, tc.given[0])
			}
			if !tc.keep && (len(got) != 36 || !validRequestID(got)) {
				t.Fatalf("minted %q, want a UUID", got)
			}
			if v := r.Header["X-Request-Id"]; len(v) != 1 || v[0] != got {
				t.Fatalf("request header %q, want [%q]", v, got)
			}
		})
	}
}

func TestHandlerCapturesSearchBodyWithoutConsumingIt(t *testing.T) {
	h, s, _ := testHandler(t, true, false, 64<<20)
	body := "family=Smith&birthdate=2000-01-01&" + strings.Repeat("x", 10000)
	r := caddyRequest("POST", "/fhir/Patient/_search", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var forwarded string
	err := h.ServeHTTP(httptest.NewRecorder(), r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		b, err := io.ReadAll(r.Body)
		forwarded = string(b)
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	if forwarded != body {
		t.Fatalf("upstream got %d bytes, want the %d-byte body unchanged", len(forwarded), len(body))
	}
	_ = s.flush()
	got := readAll(t, s, 0)
	if len(got) != 1 || got[0].SearchBody != body[:defaultMaxSearchBody] {
		t.Fatalf("search body recorded %d bytes, want the first %d", len(got[0].SearchBody), defaultMaxSearchBody)
	}
}

// TestHandlerKeepsFlusherAndHijacker checks that the recorder passes
// flushes and hijacks through (streaming and WebSocket proxying).
func TestHandlerKeepsFlusherAndHijacker(t *testing.T) {
	h, _, _ := testHandler(t, false, false, 64<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
		ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
		_ = h.ServeHTTP(w, r.WithContext(ctx), caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			rc := http.NewResponseController(w)
			if r.URL.Path == "/flush" {
				_, _ = w.Write([]byte("a"))
				return rc.Flush()
			}
			conn, _, err := rc.Hijack()
			if err != nil {
				return err
			}
			_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nhijacked"))
			return conn.Close()
		}))
	}))
	defer srv.Close()
	for _, path := range []string{"/flush", "/hijack"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, b)
		}
	}
}

// TestHandlerSpoolWriteErrorFailsClosed breaks the spool's file under it
// (as a full or failing disk would): the request is refused, not
// forwarded, under fail_open too (only a full spool may be passed over).
func TestHandlerSpoolWriteErrorFailsClosed(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		h, s, _ := testHandler(t, true, failOpen, 64<<20)
		s.mu.Lock()
		_ = s.active.Close()
		s.mu.Unlock()
		for range 2 { // the error is sticky
			called := false
			err := h.ServeHTTP(httptest.NewRecorder(), caddyRequest("GET", "/fhir/Patient", nil),
				caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { called = true; return nil }))
			var ref *gate.Refusal
			var he caddyhttp.HandlerError
			if called || !errors.As(err, &he) || he.StatusCode != 503 || !errors.As(err, &ref) || ref.Reason != "spool_error" {
				t.Fatalf("fail_open=%v: forwarded %v, err %v", failOpen, called, err)
			}
		}
	}
}

// TestHandlerClassifiesWithoutGuard: on a route without fhir_guard the
// handler classifies the request itself, and never guesses at an
// ambiguous path.
func TestHandlerClassifiesWithoutGuard(t *testing.T) {
	cases := []struct {
		name, method, target string
		valid                bool
		code, resource, base string
	}{
		{"ok/search", "GET", "/fhir/Patient?name=x", true, "search-type", "Patient", "/fhir"},
		{"ok/read-other-base", "GET", "/baseR4/Patient/p-1", true, "read", "Patient", "/baseR4"},
		{"ok/not-below-a-base", "GET", "/crux/index.html", false, "", "", ""},
		{"fail/ambiguous-semicolon", "GET", "/fhir/Patient;x=1", false, "", "", ""},
		{"fail/encoded-dot", "GET", "/fhir/%2e%2e/home", false, "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, s, _ := testHandler(t, false, false, 64<<20)
			h.FHIRBases = []string{"/fhir", "/baseR4"}
			r := caddyRequest(tc.method, tc.target, nil)
			if err := h.ServeHTTP(httptest.NewRecorder(), r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
				t.Fatal(err)
			}
			if err := s.flush(); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, s, 0)
			if len(got) != 1 {
				t.Fatalf("%d events, want 1", len(got))
			}
			in := got[0].FHIR
			if in.Valid != tc.valid || in.Code != tc.code || in.ResourceType != tc.resource || in.Base != tc.base {
				t.Errorf("classified %+v, want valid=%v code=%q type=%q base=%q", in, tc.valid, tc.code, tc.resource, tc.base)
			}
		})
	}
}

func TestHandlerValidateFHIRBases(t *testing.T) {
	for _, bases := range [][]string{{"/"}, {"fhir"}, {"/fhir/"}, {"/fhir;x"}, {"/fh%69r"}} {
		h := &Handler{FHIRBases: bases}
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "fhir_bases[0]") {
			t.Errorf("bases %q: Validate() = %v, want an error naming fhir_bases[0]", bases, err)
		}
	}
	if err := (&Handler{FHIRBases: []string{"/fhir", "/hapi/fhir"}}).Validate(); err != nil {
		t.Errorf("good bases refused: %v", err)
	}
}

// TestHandlerInErrorRoutes: the handler in handle_errors records only
// requests the route's audit handler never took (Caddy's own refusals,
// such as strict_sni_host's 421), naming the rule.
func TestHandlerInErrorRoutes(t *testing.T) {
	writeStatus := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusMisdirectedRequest)
		return nil
	})
	misdirected := caddyhttp.Error(http.StatusMisdirectedRequest, errors.New("strict host matching: TLS ServerName (localhost) and HTTP Host (other.example) values differ"))

	t.Run("ok/refused-before-the-route", func(t *testing.T) {
		h, s, _ := testHandler(t, true, false, 64<<20)
		r := caddyRequest("GET", "/fhir/Patient", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.ErrorCtxKey, error(misdirected)))
		if err := h.ServeHTTP(httptest.NewRecorder(), r, writeStatus); err != nil {
			t.Fatal(err)
		}
		if err := s.flush(); err != nil {
			t.Fatal(err)
		}
		got := readAll(t, s, 0)
		if len(got) != 1 || got[0].Status != 421 || got[0].RefusalModule != "strict_sni_host" || !strings.Contains(got[0].RefusalDetail, "other.example") {
			t.Fatalf("records %+v, want one 421 strict_sni_host refusal", got)
		}
	})
	t.Run("ok/already-recorded-by-the-route", func(t *testing.T) {
		h, s, _ := testHandler(t, true, false, 64<<20)
		r := caddyRequest("GET", "/fhir/Patient", nil)
		refused := caddyhttp.Error(http.StatusForbidden, &gate.Refusal{Module: "fhir_guard", Reason: "scope_missing"})
		route := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return refused })
		if err := h.ServeHTTP(httptest.NewRecorder(), r, route); err == nil {
			t.Fatal("the route's refusal was swallowed")
		}
		// Caddy then runs the error routes with the same request.
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.ErrorCtxKey, error(refused)))
		if err := h.ServeHTTP(httptest.NewRecorder(), r, writeStatus); err != nil {
			t.Fatal(err)
		}
		if err := s.flush(); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, s, 0); len(got) != 1 || got[0].RefusalModule != "fhir_guard" {
			t.Fatalf("records %+v, want exactly the route's one", got)
		}
	})
}

// TestHandlerPanicsAreRecordedAndRepanicked: a panic further in still
// completes the record and is panicked again (so net/http aborts the
// connection); http.ErrAbortHandler — reverse_proxy aborting a response
// mid-body, on purpose — is recorded as an aborted response with the
// status already sent, any other panic as a handler panic.
func TestHandlerPanicsAreRecordedAndRepanicked(t *testing.T) {
	cases := []struct {
		name       string
		panicWith  any
		writeFirst bool
		wantStatus int
		wantError  string
	}{
		{"ok/aborted-mid-body", http.ErrAbortHandler, true, 200, "response aborted mid-body"},
		{"ok/aborted-before-header", http.ErrAbortHandler, false, 500, "response aborted mid-body"},
		{"ok/other-panic", "boom", false, 500, "handler panic"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, s, _ := testHandler(t, false, false, 64<<20)
			r := caddyRequest("GET", "/fhir/Patient?name=x", nil)
			var recovered any
			func() {
				defer func() { recovered = recover() }()
				_ = h.ServeHTTP(httptest.NewRecorder(), r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					if tc.writeFirst {
						_, _ = w.Write([]byte("partial"))
					}
					panic(tc.panicWith)
				}))
			}()
			if recovered != tc.panicWith {
				t.Fatalf("recovered %v, want the panic %v passed on", recovered, tc.panicWith)
			}
			if err := s.flush(); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, s, 0)
			if len(got) != 1 {
				t.Fatalf("%d events, want exactly 1", len(got))
			}
			if got[0].Status != tc.wantStatus || got[0].Error != tc.wantError {
				t.Errorf("status %d error %q, want %d %q", got[0].Status, got[0].Error, tc.wantStatus, tc.wantError)
			}
		})
	}
}

func TestUpstreamURL(t *testing.T) {
	h := &Handler{}
	for _, hp := range []string{"127.0.0.1:3000", "127.0.0.1:3000", "10.0.0.5:8080", "127.0.0.1:3000"} {
		if got, want := h.upstreamURL(hp), "http://"+hp; got != want {
			t.Fatalf("upstreamURL(%q) = %q, want %q", hp, got, want)
		}
	}
}
