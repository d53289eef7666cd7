// Package outcome is the fhir_outcome handler: inside handle_errors it
// answers the error with a FHIR R4 OperationOutcome
// (application/fhir+json), so a node's FHIR client gets a FHIR answer
// whichever crgate module refused the request.
package outcome

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/crgate/crgate/internal/gate"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is fhir_outcome. It is terminal: it writes the response and
// never calls the next handler. The diagnostics name the refusing module
// and its reason label for a *gate.Refusal; for any other error only the
// status and Caddy's error id, since an internal error's text may name
// upstream addresses or files.
type Handler struct{}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.fhir_outcome",
		New: func() caddy.Module { return new(Handler) },
	}
}

// operationOutcome is the R4 OperationOutcome written: one issue.
type operationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []issue `json:"issue"`
}

type issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Details     *details `json:"details,omitempty"`
	Diagnostics string   `json:"diagnostics,omitempty"`
}

type details struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// ReasonSystem is the code system of the refusal reason labels carried in
// issue.details.coding, as "<module>/<reason>".
const ReasonSystem = "urn:crgate:refusal-reason"

// issueCode maps an HTTP status to http://hl7.org/fhir/issue-type.
func issueCode(status int, ref *gate.Refusal) string {
	switch {
	case ref != nil && ref.Module == "node_auth":
		return "security"
	case status == http.StatusBadRequest:
		return "invalid"
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return "forbidden"
	case status == http.StatusNotFound:
		return "not-found"
	case status == http.StatusMethodNotAllowed, status == http.StatusUnsupportedMediaType, status == http.StatusNotImplemented:
		return "not-supported"
	case status == http.StatusRequestEntityTooLarge, status == http.StatusRequestURITooLong, status == http.StatusRequestHeaderFieldsTooLarge:
		return "too-long"
	case status == http.StatusTooManyRequests:
		return "throttled"
	case status == http.StatusRequestTimeout, status == http.StatusGatewayTimeout:
		return "timeout"
	case status >= 500:
		return "exception"
	}
	return "processing"
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	status := http.StatusInternalServerError
	errID := ""
	err, _ := r.Context().Value(caddyhttp.ErrorCtxKey).(error)
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		if he.StatusCode >= 400 && he.StatusCode <= 599 {
			status = he.StatusCode
		}
		errID = he.ID
	}
	var ref *gate.Refusal
	if !errors.As(err, &ref) {
		ref = nil
	}
	is := issue{Severity: "error", Code: issueCode(status, ref)}
	if ref != nil {
		is.Details = &details{
			Coding: []coding{{System: ReasonSystem, Code: ref.Module + "/" + ref.Reason}},
			Text:   ref.Detail,
		}
		is.Diagnostics = ref.Module + " refused the request: " + ref.Reason
	} else {
		is.Diagnostics = strconv.Itoa(status) + " " + http.StatusText(status)
	}
	if errID != "" {
		is.Diagnostics += " (error id " + errID + ")"
	}
	// encoding/json escapes '<', '>' and '&' as well as quotes and
	// control characters, so nothing a client sent can break out of a
	// string or be sniffed as markup.
	body, mErr := json.Marshal(operationOutcome{ResourceType: "OperationOutcome", Issue: []issue{is}})
	if mErr != nil {
		return mErr
	}
	h := w.Header()
	h.Set("Content-Type", "application/fhir+json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
