package nodeauth

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/gate"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is node_auth: it maps each request's verified client certificate
// to its registered node, refuses (403) a request without one, removes
// every client-supplied identity header and sets the node's identity for
// the upstream (X-Openhim-Clientid, X-Crgate-Node-Id, X-Crgate-Node-Name,
// X-Crgate-Node-Fingerprint).
//
// The node is looked up in the current registry on every request, so
// disabling a node or revoking its certificate takes effect on its next
// request even over a connection opened before the change.
//
// Placeholders: {http.auth.node.id}, {http.auth.node.name},
// {http.auth.node.scopes} (space-separated), {http.auth.node.fingerprint},
// and {http.auth.user.id} (the node id, for Caddy's access log).
type Handler struct {
	// StripHeaders names further request headers to remove before anything
	// else sees the request, on top of the built-in identity headers
	// (x-openhim-clientid, x-client-*, x-forwarded-client-cert,
	// x-ssl-client-*, x-crgate-* and others). A trailing '*' makes a prefix;
	// matching ignores case and treats '_' as '-'. The built-in list cannot
	// be shortened.
	StripHeaders []string `json:"strip_headers,omitempty"`

	registry *Registry
	strip    stripper
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.node_auth",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision binds the handler to the node_registry app and compiles the
// header patterns.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	reg, err := registryApp(ctx)
	if err != nil {
		return err
	}
	h.registry = reg
	h.strip, err = newStripper(h.StripHeaders)
	return err
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	h.strip.strip(r.Header)
	h.strip.stripConnection(r.Header)
	if r.Trailer != nil {
		h.strip.strip(r.Trailer)
	}
	var rn *registeredNode
	var pub *published
	var ref *gate.Refusal
	if r.TLS != nil {
		rn, pub, ref = h.registry.identify(r.TLS.PeerCertificates, r.TLS.VerifiedChains)
	} else {
		ref = refuse(reasonNoCertificate, "the connection is not TLS")
	}
	if ref != nil {
		requestsRefused.WithLabelValues(ref.Reason).Inc()
		if ce := h.logger.Check(zap.DebugLevel, "request refused"); ce != nil {
			ce.Write(zap.String("reason", ref.Reason), zap.String("detail", ref.Detail), zap.String("client_ip", r.RemoteAddr))
		}
		return caddyhttp.Error(http.StatusForbidden, ref)
	}
	rn.upstream.set(r.Header, pub.fpHeader)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		for i, k := range placeholderKeys {
			repl.Set(k, pub.placeholders[i])
		}
	}
	gate.SetNode(r, pub.node)
	rn.requests.Inc()
	return next.ServeHTTP(w, r)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
