// Package fhirguard is the fhir_guard handler: a point-of-service node may
// use exactly the FHIR interactions its scopes grant, and nothing else
// behind the gateway (the HAPI web testing UI, HAPI's non-FHIR endpoints,
// dangerous operations, OpenCR's admin routes, Elasticsearch), however the
// request is spelled.
//
// Each request's path is canonicalised once (internal/fhirreq), anything
// ambiguous is refused with 400, the canonical path is classified as a
// FHIR interaction below a configured base and judged against the node's
// scopes and the built-in profiles' deny lists, and the request is
// forwarded with exactly the path that was judged. Batch and transaction
// Bundles are judged entry by entry.
package fhirguard

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/fhirreq"
	"github.com/crgate/crgate/internal/gate"
)

func init() {
	caddy.RegisterModule(Guard{})
}

// DefaultMaxBodyBytes is the largest body fhir_guard reads to judge (batch
// and transaction Bundles, POST _search forms) when MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// Guard is the fhir_guard handler. It must run after node_auth, which
// establishes the node whose scopes it applies; without a node every
// request is refused.
type Guard struct {
	// Bases are the FHIR base paths interactions are classified under,
	// e.g. "/fhir", "/hapi/fhir", "/hapi-fhir-jpaserver/fhir", "/baseR4".
	// Each must itself be canonical ("/" followed by segments of letters,
	// digits and "-._~$"), and matches with exact case. Default ["/fhir"].
	// Nothing outside a base is a FHIR interaction, so nothing outside a
	// base is ever forwarded.
	Bases []string `json:"bases,omitempty"`

	// Profiles name built-in deny lists applied on top of the scopes:
	// "hapi" (testing UI and static files, actuator, MCP, Swagger, the
	// dangerous and bulk operations, conditional and parameterised
	// DELETE), "opencr" (OpenCR's UI and admin routes) and
	// "elasticsearch" (its REST API, index writes, script parameters).
	// Default none: the scopes alone decide, and a node granted
	// Patient.$expunge could expunge. An unknown name refuses to start.
	Profiles []string `json:"profiles,omitempty"`

	// MaxBodyBytes is the largest request body fhir_guard reads to judge
	// (batch and transaction Bundles, POST _search forms); a larger one is
	// refused with 413, never forwarded unjudged. Default 1 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	profiles []profile
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Guard) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.fhir_guard",
		New: func() caddy.Module { return new(Guard) },
	}
}

// Provision applies defaults, resolves the profiles and registers metrics.
func (g *Guard) Provision(ctx caddy.Context) error {
	g.logger = ctx.Logger()
	if len(g.Bases) == 0 {
		g.Bases = []string{"/fhir"}
	}
	if g.MaxBodyBytes == 0 {
		g.MaxBodyBytes = DefaultMaxBodyBytes
	}
	g.profiles = g.profiles[:0]
	for i, name := range g.Profiles {
		p, ok := profiles[name]
		if !ok {
			return fmt.Errorf("profiles[%d]: unknown profile %q (known: %s)", i, name, profileNames())
		}
		g.profiles = append(g.profiles, p)
	}
	return registerMetrics(ctx.GetMetricsRegistry())
}

// Validate refuses bases that are not canonical paths, duplicates and a
// negative body limit.
func (g *Guard) Validate() error {
	for i, b := range g.Bases {
		c, err := fhirreq.Canonicalize(b)
		if err != nil || c != b || b == "/" {
			return fmt.Errorf("bases[%d] %q: not a canonical path below \"/\" (letters, digits, \"-._~$\" between single slashes, no trailing slash)", i, b)
		}
		if slices.Contains(g.Bases[:i], b) {
			return fmt.Errorf("bases[%d] %q: listed twice", i, b)
		}
	}
	if g.MaxBodyBytes < 0 {
		return fmt.Errorf("max_body_bytes: %d is negative", g.MaxBodyBytes)
	}
	seen := map[string]bool{}
	for i, p := range g.Profiles {
		if seen[p] {
			return fmt.Errorf("profiles[%d] %q: listed twice", i, p)
		}
		seen[p] = true
	}
	return nil
}

func profileNames() string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	node, ok := gate.NodeFrom(r)
	if !ok {
		return g.refuse(r, nil, forbidden(reasonNoNode, "no authenticated node: fhir_guard must run after node_auth"))
	}
	canonical, rawQuery, in, ref := g.judge(r, node)
	if ref != nil {
		return g.refuse(r, node, ref)
	}
	// Forward exactly what was judged.
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = canonical, "", rawQuery
	if rawQuery != "" {
		r.RequestURI = canonical + "?" + rawQuery
	} else {
		r.RequestURI = canonical
	}
	if ce := g.logger.Check(zap.DebugLevel, "request allowed"); ce != nil {
		ce.Write(zap.String("client_id", node.ID), zap.String("path", canonical), zap.String("interaction", in.Code))
	}
	return next.ServeHTTP(w, r)
}

// judge decides one request; the classification is published whenever
// there is one, so audit records what was judged, allowed or refused.
func (g *Guard) judge(r *http.Request, node *gate.Node) (string, string, *fhirreq.Interaction, *refusal) {
	if ref := checkHeaders(r.Header); ref != nil {
		return "", "", nil, ref
	}
	rawPath, rawQuery, err := fhirreq.SplitTarget(r.RequestURI)
	if err != nil {
		return "", "", nil, pathRefusal(err)
	}
	canonical, err := fhirreq.Canonicalize(rawPath)
	if err != nil {
		return "", "", nil, pathRefusal(err)
	}
	// One allocation for the interaction (published, so it outlives the
	// call) and the judged request that points at it.
	j := new(struct {
		in fhirreq.Interaction
		q  judged
	})
	in := &j.in
	*in = fhirreq.Classify(r.Method, canonical, rawQuery, g.Bases)
	gate.SetInteraction(r, in)
	j.q = judged{method: r.Method, path: canonical, query: rawQuery, in: in}
	if ref := g.judgeInteraction(r, &j.q, r.Header.Get("If-None-Exist")); ref != nil {
		return "", "", in, ref
	}
	if ref := g.judgeBody(r, &j.q); ref != nil {
		return "", "", in, ref
	}
	return canonical, rawQuery, in, nil
}

// judgeInteraction applies parameters, profiles and scopes to one
// classified request or Bundle entry. ifNoneExist is a conditional
// create's search ("" for none).
func (g *Guard) judgeInteraction(r *http.Request, q *judged, ifNoneExist string) *refusal {
	if ref := checkParams(q); ref != nil {
		return ref
	}
	for _, p := range g.profiles {
		if ref := p(q); ref != nil {
			return ref
		}
	}
	if !q.in.Valid {
		return forbidden(reasonNotFHIR, "not a FHIR interaction the gateway serves: "+q.in.Why)
	}
	node, _ := gate.NodeFrom(r)
	if q.in.Code == fhirreq.CodeBatchOrTransaction {
		return nil // judged with its body
	}
	if ref := checkScopes(node.Scopes, q.in, ifNoneExist != ""); ref != nil {
		return ref
	}
	// A conditional update, patch or delete and a conditional create run
	// a search on the node's behalf: its criteria may not reach further
	// than the node's own searches could.
	if isSearch(q.in) || q.in.Conditional {
		if ref := checkSearchReach(node.Scopes, q.query); ref != nil {
			return ref
		}
	}
	if ifNoneExist != "" {
		// HAPI reads the criteria after a '?' when the value has one.
		if _, criteria, found := strings.Cut(ifNoneExist, "?"); found {
			ifNoneExist = criteria
		}
		return checkSearchReach(node.Scopes, ifNoneExist)
	}
	return nil
}

// judgeBody reads the bodies whose content decides what the request does:
// Bundles (POST [base]) and search forms (POST …/_search). A form body
// anywhere else is refused, since HAPI reads a form POST to [type] as a
// search.
func (g *Guard) judgeBody(r *http.Request, q *judged) *refusal {
	in := q.in
	switch {
	case in.Code == fhirreq.CodeBatchOrTransaction:
		if q.query != "" {
			return badRequest(reasonBundleQuery, "POST to the FHIR base takes no parameters")
		}
		code, ref := g.judgeBundle(r, q)
		if ref != nil {
			return ref
		}
		in.Code = code
		node, _ := gate.NodeFrom(r)
		return checkScopes(node.Scopes, in, false)
	case in.Valid && (in.Code == fhirreq.CodeCreate || in.Code == fhirreq.CodeUpdate || in.Code == fhirreq.CodePatch):
		return g.judgeWriteBody(r, in)
	case r.Method == http.MethodPost && strings.HasSuffix(q.path, "/_search"):
		mt, ref := mediaType(r.Header)
		if ref == nil && mt != "application/x-www-form-urlencoded" {
			ref = &refusal{status: http.StatusUnsupportedMediaType, reason: reasonContentType,
				detail: "POST _search takes an application/x-www-form-urlencoded body"}
		}
		if ref != nil {
			return ref
		}
		body, ref := readBody(r, g.MaxBodyBytes)
		if ref != nil {
			return ref
		}
		form := judged{method: q.method, query: string(body), in: in}
		for _, p := range g.profiles {
			if ref := p(&form); ref != nil {
				return ref
			}
		}
		if ref := checkParams(&form); ref != nil {
			return ref
		}
		node, _ := gate.NodeFrom(r)
		return checkSearchReach(node.Scopes, form.query)
	}
	for _, ct := range r.Header.Values("Content-Type") {
		if mt, _, err := mimeType(ct); err != nil || mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" {
			return &refusal{status: http.StatusUnsupportedMediaType, reason: reasonContentType,
				detail: "form bodies are accepted only by POST _search"}
		}
	}
	return nil
}

// pathRefusal turns a canonicaliser refusal into a 400.
func pathRefusal(err error) *refusal {
	var pe *fhirreq.PathError
	if errors.As(err, &pe) {
		return badRequest(pathReasonPrefix+string(pe.Reason), "the request path is ambiguous ("+string(pe.Reason)+"); send it in canonical form")
	}
	return badRequest(pathReasonPrefix+"invalid", err.Error())
}

// refuse counts, logs at Debug and returns the refusal as Caddy's error.
func (g *Guard) refuse(r *http.Request, node *gate.Node, ref *refusal) error {
	id := ""
	if node != nil {
		id = node.ID
	}
	refused.WithLabelValues(ref.reason, id).Inc()
	if ce := g.logger.Check(zap.DebugLevel, "request refused"); ce != nil {
		ce.Write(zap.String("reason", ref.reason), zap.String("detail", ref.detail), zap.String("client_id", id),
			zap.String("method", r.Method), zap.String("uri", r.RequestURI))
	}
	return caddyhttp.Error(ref.status, ref.err())
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Guard)(nil)
	_ caddy.Validator             = (*Guard)(nil)
	_ caddyhttp.MiddlewareHandler = (*Guard)(nil)
)
