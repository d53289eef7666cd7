package nodeauth

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// passiveHandlers are the handlers that may run on a registry door before
// node_auth and fhir_guard: they record, refuse, set variables, headers
// or encodings, and answer nothing from elsewhere. Every other handler
// (reverse_proxy, registry_proxy, file_server, invoke, intercept, a
// module crgate does not know…) may hand the registry or a file to
// whoever asks, so it must come after both.
var passiveHandlers = map[string]bool{
	"audit": true, "fhir_outcome": true, "static_response": true, "error": true,
	"headers": true, "vars": true, "map": true, "request_body": true, "encode": true,
	"rewrite": true, "tracing": true, "log_append": true, "authentication": true,
}

// guardsRun is what has run on every way to a handler.
type guardsRun struct{ nodeAuth, fhirGuard bool }

// checkGuardedRoutes refuses a registry door (a server whose TLS policies
// ask for client certificates) on which some handler that can answer
// from the registry may run without node_auth and fhir_guard having run
// before it, in its own route or in an earlier route that runs for every
// request. A route with matchers or in a group may not run, so what it
// holds guards only the handlers after it in that route. The error
// routes (handle_errors) run after a refusal, with nothing guarded.
func checkGuardedRoutes(servers map[string]*caddyhttp.Server) error {
	for _, name := range serverNames(servers) {
		srv := servers[name]
		if !asksForClientCerts(srv) {
			continue
		}
		where := fmt.Sprintf("http server %q (listen %s)", name, strings.Join(srv.Listen, " "))
		if err := checkRoutes(srv.Routes, "routes", guardsRun{}); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if srv.Errors != nil {
			if err := checkRoutes(srv.Errors.Routes, "errors.routes", guardsRun{}); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	return nil
}

func checkRoutes(routes caddyhttp.RouteList, path string, run guardsRun) error {
	for i, rt := range routes {
		inRoute := run
		for j, h := range rt.Handlers {
			at := fmt.Sprintf("%s[%d].handle[%d]", path, i, j)
			name := handlerName(h)
			switch {
			case name == "node_auth":
				inRoute.nodeAuth = true
			case name == "fhir_guard":
				inRoute.fhirGuard = true
			case name == "subroute":
				sub, ok := h.(*caddyhttp.Subroute)
				if !ok {
					return fmt.Errorf("%s: subroute handler is %T", at, h)
				}
				if err := checkRoutes(sub.Routes, at+".routes", inRoute); err != nil {
					return err
				}
				if sub.Errors != nil {
					if err := checkRoutes(sub.Errors.Routes, at+".errors.routes", guardsRun{}); err != nil {
						return err
					}
				}
			case passiveHandlers[name]:
			case !inRoute.nodeAuth || !inRoute.fhirGuard:
				return fmt.Errorf("%s (%s) can run without node_auth and fhir_guard before it, "+
					"so a node would reach it unauthorised and unguarded; put node_auth and fhir_guard "+
					"ahead of it in the site (as configs/Caddyfile does), outside any matcher or handle block",
					at, name)
			}
		}
		if len(rt.MatcherSets) == 0 && rt.Group == "" {
			run = inRoute
		}
	}
	return nil
}

// handlerName is a handler's module name (reverse_proxy for
// http.handlers.reverse_proxy), or its Go type for one that is not a
// module.
func handlerName(h caddyhttp.MiddlewareHandler) string {
	m, ok := h.(caddy.Module)
	if !ok {
		return fmt.Sprintf("%T", h)
	}
	return m.CaddyModule().ID.Name()
}
