package nodeauth

import (
	"crypto/tls"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
)

// namedHandler stands for a handler module by its name, so the check is
// judged by module identity as in a provisioned config.
type namedHandler string

func (n namedHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: caddy.ModuleID("http.handlers." + string(n))}
}

func (namedHandler) ServeHTTP(http.ResponseWriter, *http.Request, caddyhttp.Handler) error {
	return nil
}

func handlers(names ...string) []caddyhttp.MiddlewareHandler {
	hs := make([]caddyhttp.MiddlewareHandler, len(names))
	for i, n := range names {
		hs[i] = namedHandler(n)
	}
	return hs
}

// route is one unconditional route; matched and grouped make it one that
// may not run.
func route(names ...string) caddyhttp.Route { return caddyhttp.Route{Handlers: handlers(names...)} }

func matched(rt caddyhttp.Route) caddyhttp.Route {
	rt.MatcherSets = caddyhttp.MatcherSets{{caddyhttp.MatchPath{"/fhir/*"}}}
	return rt
}

func grouped(rt caddyhttp.Route) caddyhttp.Route {
	rt.Group = "group0"
	return rt
}

func subroute(routes ...caddyhttp.Route) caddyhttp.Route {
	return caddyhttp.Route{Handlers: []caddyhttp.MiddlewareHandler{&caddyhttp.Subroute{Routes: routes}}}
}

func TestCheckGuardedRoutes(t *testing.T) {
	type rl = caddyhttp.RouteList
	tests := []struct {
		name   string
		routes rl
		errors rl
		want   string // error substring; empty: accepted
	}{
		{"ok/design-order", rl{route("audit"), route("node_auth"), route("fhir_guard"), route("request_body"), route("registry_proxy")}, nil, ""},
		{"ok/one-route", rl{route("audit", "node_auth", "fhir_guard", "reverse_proxy")}, nil, ""},
		{"ok/site-subroute-behind-host-matcher", rl{matched(subroute(route("encode"), route("audit"), route("node_auth"), route("fhir_guard"), route("registry_proxy")))}, nil, ""},
		{"ok/proxy-in-matched-route-after-guards", rl{route("node_auth"), route("fhir_guard"), matched(route("reverse_proxy")), grouped(route("registry_proxy"))}, nil, ""},
		{"ok/guards-then-handle-blocks", rl{route("node_auth", "fhir_guard"), grouped(matched(subroute(route("reverse_proxy")))), grouped(subroute(route("static_response")))}, nil, ""},
		{"ok/passive-only", rl{route("headers", "static_response")}, rl{route("audit"), route("fhir_outcome")}, ""},
		{"ok/caddy-directives-before-guards", rl{route("tracing"), route("map"), route("vars"), route("headers"), route("request_body"), route("rewrite"),
			route("authentication"), route("encode"), route("audit"), route("node_auth"), route("fhir_guard"), route("registry_proxy")}, nil, ""},
		{"fail/templates-before-guards", rl{route("templates"), route("node_auth"), route("fhir_guard"), route("registry_proxy")}, nil, "routes[0].handle[0] (templates)"},
		{"fail/no-fhir-guard", rl{route("audit"), route("node_auth"), route("reverse_proxy")}, nil, "routes[2].handle[0] (reverse_proxy) can run without node_auth and fhir_guard"},
		{"fail/no-node-auth", rl{route("fhir_guard"), route("registry_proxy")}, nil, "routes[1].handle[0] (registry_proxy)"},
		{"fail/proxy-before-guards", rl{route("reverse_proxy"), route("node_auth"), route("fhir_guard")}, nil, "routes[0].handle[0] (reverse_proxy)"},
		{"fail/guards-behind-matcher", rl{matched(route("node_auth", "fhir_guard")), route("registry_proxy")}, nil, "routes[1].handle[0] (registry_proxy)"},
		{"fail/guards-in-group", rl{grouped(route("node_auth", "fhir_guard")), route("registry_proxy")}, nil, "routes[1].handle[0] (registry_proxy)"},
		{"fail/unguarded-handle-block", rl{matched(subroute(route("node_auth"), route("fhir_guard"), route("registry_proxy"))), subroute(route("file_server"))},
			nil, "routes[1].handle[0].routes[0].handle[0] (file_server)"},
		{"fail/unknown-handler-first", rl{route("invoke"), route("node_auth"), route("fhir_guard"), route("registry_proxy")}, nil, "routes[0].handle[0] (invoke)"},
		{"fail/proxy-in-error-routes", rl{route("node_auth"), route("fhir_guard"), route("registry_proxy")}, rl{route("audit"), route("reverse_proxy")}, "errors.routes[1].handle[0] (reverse_proxy)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &caddyhttp.Server{Listen: []string{":9443"}, Routes: tt.routes,
				TLSConnPolicies: caddytls.ConnectionPolicies{{TLSConfig: &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}}}}
			if tt.errors != nil {
				srv.Errors = &caddyhttp.HTTPErrorConfig{Routes: tt.errors}
			}
			err := checkGuardedRoutes(map[string]*caddyhttp.Server{"srv0": srv})
			checkServerError(t, err, tt.want)
		})
	}
	// A server that asks for no client certificate (the admin door) is
	// subnet_guard's and admin_login's, not this check's.
	admin := &caddyhttp.Server{Routes: caddyhttp.RouteList{route("reverse_proxy")},
		TLSConnPolicies: caddytls.ConnectionPolicies{{TLSConfig: &tls.Config{ClientAuth: tls.NoClientCert}}}}
	if err := checkGuardedRoutes(map[string]*caddyhttp.Server{"admin": admin}); err != nil {
		t.Errorf("admin door refused: %v", err)
	}
}
