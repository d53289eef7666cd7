package audit

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/crgate/crgate/internal/gate"
)

// recordedVar marks a request the audit handler has already taken. The
// same handler placed in a site's handle_errors then records only what the
// main route never saw: requests Caddy refused before any route ran, such
// as the 421 of strict_sni_host when the Host differs from the TLS server
// name (a client handshaking for one site and asking another).
const recordedVar = "crgate.audit.recorded"

// takeRequest reports whether this handler should record r, marking it so
// that an audit handler in the error routes does not record it again.
func takeRequest(r *http.Request) bool {
	if done, _ := caddyhttp.GetVar(r.Context(), recordedVar).(bool); done {
		return false
	}
	caddyhttp.SetVar(r.Context(), recordedVar, true)
	return true
}

// routeError returns the error an error route is handling, when the
// handler runs in one and its own chain returned none, so the event says
// why the request was refused. Caddy's own refusals carry no
// *gate.Refusal; the 421 of strict SNI/Host matching is named here.
func routeError(r *http.Request, err error) error {
	if err != nil {
		return err
	}
	rerr, ok := r.Context().Value(caddyhttp.ErrorCtxKey).(error)
	if !ok || rerr == nil {
		return nil
	}
	var ref *gate.Refusal
	var he caddyhttp.HandlerError
	if !errors.As(rerr, &ref) && errors.As(rerr, &he) && he.StatusCode == http.StatusMisdirectedRequest {
		return caddyhttp.Error(he.StatusCode, &gate.Refusal{Module: "strict_sni_host", Reason: "host_differs_from_server_name", Detail: he.Err.Error()})
	}
	return rerr
}
