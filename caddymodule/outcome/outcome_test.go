package outcome

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/crgate/crgate/internal/gate"
)

func TestOutcome(t *testing.T) {
	hostile := `</script><b>"x"` + "\u2028" + `&`
	tests := []struct {
		name        string
		err         error
		status      int
		code        string
		diagnostics string
		reason      string
	}{
		{"ok/fhir-guard-400", caddyhttp.Error(400, &gate.Refusal{Module: "fhir_guard", Reason: "path_semicolon", Detail: hostile}), 400, "invalid", "fhir_guard refused the request: path_semicolon", "fhir_guard/path_semicolon"},
		{"ok/fhir-guard-403", caddyhttp.Error(403, &gate.Refusal{Module: "fhir_guard", Reason: "dangerous_operation"}), 403, "forbidden", "fhir_guard refused the request: dangerous_operation", "fhir_guard/dangerous_operation"},
		{"ok/node-auth-403", caddyhttp.Error(403, &gate.Refusal{Module: "node_auth", Reason: "node_disabled"}), 403, "security", "node_auth refused the request: node_disabled", "node_auth/node_disabled"},
		{"ok/too-large", caddyhttp.Error(413, &gate.Refusal{Module: "fhir_guard", Reason: "body_too_large"}), 413, "too-long", "fhir_guard refused the request: body_too_large", "fhir_guard/body_too_large"},
		{"ok/unsupported", caddyhttp.Error(415, &gate.Refusal{Module: "fhir_guard", Reason: "unsupported_content_type"}), 415, "not-supported", "fhir_guard refused the request", "fhir_guard/unsupported_content_type"},
		{"ok/wrapped-refusal", caddyhttp.Error(403, errors.Join(errors.New("x"), &gate.Refusal{Module: "m", Reason: "r"})), 403, "forbidden", "m refused the request: r", "m/r"},
		{"ok/other-error-not-echoed", caddyhttp.Error(502, errors.New("dial tcp 10.1.2.3:3000: "+hostile)), 502, "exception", "502 Bad Gateway", ""},
		{"ok/plain-error", errors.New("secret internals"), 500, "exception", "500 Internal Server Error", ""},
		{"ok/no-error", nil, 500, "exception", "500 Internal Server Error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/x", nil)
			if tt.err != nil {
				r = r.WithContext(context.WithValue(r.Context(), caddyhttp.ErrorCtxKey, tt.err))
			}
			w := httptest.NewRecorder()
			if err := (Handler{}).ServeHTTP(w, r, nil); err != nil {
				t.Fatal(err)
			}
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/fhir+json; charset=utf-8" {
				t.Errorf("content type %q", ct)
			}
			body := w.Body.String()
			if strings.ContainsAny(body, "<>") || strings.Contains(body, "secret") || strings.Contains(body, "10.1.2.3") {
				t.Errorf("body echoes unescaped or internal data: %s", body)
			}
			var oo struct {
				ResourceType string
				Issue        []struct {
					Severity, Code, Diagnostics string
					Details                     struct {
						Coding []struct{ System, Code string }
						Text   string
					}
				}
			}
			if err := json.Unmarshal(w.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 {
				t.Fatalf("not an OperationOutcome: %s (%v)", body, err)
			}
			is := oo.Issue[0]
			if is.Severity != "error" || is.Code != tt.code || !strings.HasPrefix(is.Diagnostics, tt.diagnostics) {
				t.Errorf("issue %+v, want code %s diagnostics %q", is, tt.code, tt.diagnostics)
			}
			if tt.reason != "" && (len(is.Details.Coding) != 1 || is.Details.Coding[0].Code != tt.reason || is.Details.Coding[0].System != ReasonSystem) {
				t.Errorf("details %+v, want reason %s", is.Details, tt.reason)
			}
			if strings.Contains(tt.name, "400") && is.Details.Text != hostile {
				t.Errorf("detail did not round-trip through JSON escaping: %q", is.Details.Text)
			}
		})
	}
}

func TestOutcomeHEADHasNoBody(t *testing.T) {
	r := httptest.NewRequest(http.MethodHead, "/x", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.ErrorCtxKey, caddyhttp.Error(403, &gate.Refusal{Module: "m", Reason: "r"})))
	w := httptest.NewRecorder()
	if err := (Handler{}).ServeHTTP(w, r, nil); err != nil || w.Code != 403 || w.Body.Len() != 0 {
		t.Fatalf("HEAD: %v %d %q", err, w.Code, w.Body.String())
	}
}
