package audit

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/fhirreq"
	"github.com/crgate/crgate/internal/gate"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the audit handler: it records one audit event for every
// request that reaches it — served, refused by a guard further in, or
// failed upstream — so it must be the route's first handler (the `audit`
// directive is ordered first).
//
// It gives every request an X-Request-Id (minting a UUID when the client
// sent none, or one that is too long or has characters outside
// [A-Za-z0-9._:-]), passes it upstream and returns it in the response.
//
// Under durability sync the request's record is durable in the spool
// before the request goes further in; if it cannot be (spool full under
// fail_closed, or a write error) the request is answered 503 and nothing
// is forwarded.
type Handler struct {
	// Upstream is the registry's URL as the events name it (the server
	// agent's network address), e.g. "http://127.0.0.1:3000". Default: the
	// address reverse_proxy dialled, as http://host:port, when the request
	// was proxied.
	Upstream string `json:"upstream,omitempty"`

	// MaxSearchBody is how many bytes of a POST _search form body are
	// recorded for the query entity (default 4096). The body is read only
	// up to this bound and handed on whole to the upstream.
	MaxSearchBody int `json:"max_search_body,omitempty"`

	// FHIRBases are the FHIR base paths under which a request is recorded
	// as a FHIR interaction when no fhir_guard in the route classified it
	// (fhir_guard's own classification always wins). Default: /fhir. A
	// request whose path is ambiguous is recorded as not FHIR, with its
	// raw URI in the query entity.
	FHIRBases []string `json:"fhir_bases,omitempty"`

	app    *App
	logger *zap.Logger
	// lastUpstream holds the last upstream's *upstreamURL, kept so that the
	// URL is not made again for every request (there is one upstream per
	// route). An atomic.Value, not an atomic.Pointer, which must not be
	// copied: CaddyModule has a value receiver, as Caddy's modules do.
	lastUpstream atomic.Value
}

// upstreamURL is the events' name for the upstream at hostport.
type upstreamURL struct{ hostport, url string }

const defaultMaxSearchBody = 4096

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.audit",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision binds the handler to the audit app, which must be configured.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.MaxSearchBody == 0 {
		h.MaxSearchBody = defaultMaxSearchBody
	}
	if len(h.FHIRBases) == 0 {
		h.FHIRBases = []string{"/fhir"}
	}
	app, err := auditApp(ctx)
	if err != nil {
		return err
	}
	h.app = app
	// Requests the server answers before any route are recorded too
	// (unrouted.go).
	if srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok {
		app.watchServer(srv)
	}
	return nil
}

// Validate checks the configuration's invariants.
func (h *Handler) Validate() error {
	if h.MaxSearchBody < 0 || h.MaxSearchBody > 1<<20 {
		return errors.New("max_search_body: want 0 to 1 MiB")
	}
	for i, b := range h.FHIRBases {
		if c, err := fhirreq.Canonicalize(b); err != nil || c != b || b == "/" {
			return fmt.Errorf("fhir_bases[%d]: %q is not a canonical base path such as /fhir", i, b)
		}
	}
	return nil
}

// auditApp returns the config's audit app; an audit handler or listener
// wrapper without one is a configuration mistake reported at start.
func auditApp(ctx caddy.Context) (*App, error) {
	r, ok, err := auditrec.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("the audit app is not configured: add the global option `audit { spool <dir>  sink file <path> }` (JSON: apps.audit)")
	}
	app, isApp := r.(*App)
	if !isApp {
		return nil, errors.New("the audit app is not crgate's")
	}
	return app, nil
}

var recordPool = sync.Pool{New: func() any { return new(auditrec.Record) }}

// The errors a request's record carries when a handler further in
// panicked: a response aborted on purpose (http.ErrAbortHandler, the
// status already sent may be 200), or any other panic.
var (
	errResponseAborted = errors.New("response aborted mid-body")
	errHandlerPanic    = errors.New("handler panic")
)

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (err error) {
	markRouted(r)
	if !takeRequest(r) {
		return next.ServeHTTP(w, r)
	}
	start := now()
	h.app.inflight.Add(1)
	defer h.app.inflight.Add(-1)
	rec := recordPool.Get().(*auditrec.Record)
	*rec = auditrec.Record{}
	defer recordPool.Put(rec)

	rec.Kind = auditrec.KindRequest
	rec.ID = newUUID()
	rec.Time = start
	rec.Method, rec.URI, rec.Host, rec.Proto = r.Method, r.RequestURI, r.Host, r.Proto
	rec.ClientIP, _ = caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if _, port, splitErr := net.SplitHostPort(r.RemoteAddr); splitErr == nil {
		rec.ClientPort, _ = strconv.Atoi(port)
	}
	if r.TLS != nil {
		rec.TLSServerName = r.TLS.ServerName
	}
	rec.RequestID = requestID(r)
	w.Header()["X-Request-Id"] = r.Header["X-Request-Id"]
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_search") {
		rec.SearchBody = captureFormBody(r, h.MaxSearchBody)
	}

	// Under sync durability the record is durable before anything further
	// in sees the request.
	var startID uint64
	recording := true
	if h.app.sync {
		startID, err = h.app.spool.append(frameStart, 0, rec, false, true)
	} else if !h.app.spool.hasRoom() {
		err = ErrSpoolFull
	}
	if err != nil {
		if !h.app.failOpen || !errors.Is(err, ErrSpoolFull) {
			requestsRefused.Inc()
			reason := spoolErrReason(err)
			if ce := h.logger.Check(zap.DebugLevel, "request refused: audit record not durable"); ce != nil {
				ce.Write(zap.String("reason", reason), zap.String("request_id", rec.RequestID), zap.Error(err))
			}
			return caddyhttp.Error(http.StatusServiceUnavailable, &gate.Refusal{Module: "audit", Reason: reason, Detail: err.Error()})
		}
		drops.WithLabelValues("spool_full").Inc()
		recording, err = false, nil
	}

	rw := &statusRecorder{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	defer func() {
		// A panic further in still completes the record and is panicked
		// again: Caddy turns a panic into a 500, and net/http aborts the
		// connection on http.ErrAbortHandler, which registry_proxy and
		// reverse_proxy panic with on purpose when the upstream's body
		// fails mid-response.
		if p := recover(); p != nil {
			if recording {
				cause := errHandlerPanic
				if p == http.ErrAbortHandler {
					cause = errResponseAborted
				}
				h.complete(r, rw, rec, startID, cause, start)
			}
			panic(p)
		}
	}()
	err = next.ServeHTTP(rw, r)
	if recording {
		h.complete(r, rw, rec, startID, err, start)
	}
	return err
}

// complete fills in what the request's handling established and appends
// the event (completing the start under sync durability).
func (h *Handler) complete(r *http.Request, rw *statusRecorder, rec *auditrec.Record, startID uint64, err error, start time.Time) {
	err = routeError(r, err)
	rec.Duration = now().Sub(start)
	rec.BytesOut = rw.bytes
	rec.Status = rw.status
	if err != nil && !rw.wroteHeader {
		// Caddy's error handling writes the response after the route
		// returns: the status is the error's.
		rec.Status = http.StatusInternalServerError
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode != 0 {
			rec.Status = he.StatusCode
		}
	}
	if rec.Status == 0 {
		rec.Status = http.StatusOK // nothing written: net/http sends 200
	}
	if err != nil {
		var ref *gate.Refusal
		if errors.As(err, &ref) {
			rec.RefusalModule, rec.RefusalReason, rec.RefusalDetail = ref.Module, ref.Reason, ref.Detail
		} else if err == errResponseAborted || err == errHandlerPanic ||
			rec.Status == http.StatusBadGateway || rec.Status == http.StatusServiceUnavailable || rec.Status == http.StatusGatewayTimeout {
			rec.Error = err.Error()
		}
	}
	if n, ok := gate.NodeFrom(r); ok {
		rec.NodeID, rec.NodeName, rec.NodeFingerprint = n.ID, n.Name, n.FingerprintText
		if rec.NodeFingerprint == "" {
			rec.NodeFingerprint = n.Fingerprint.String()
		}
	}
	if in, ok := gate.InteractionFrom(r); ok {
		rec.FHIR = *in
	} else {
		rec.FHIR = h.classify(r)
	}
	rec.Upstream = h.Upstream
	if rec.Upstream == "" {
		if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			if hp, ok := repl.GetString("http.reverse_proxy.upstream.hostport"); ok && hp != "" {
				rec.Upstream = h.upstreamURL(hp)
			}
		}
	}
	if _, aerr := h.app.spool.append(frameEvent, startID, rec, true, false); aerr != nil {
		reason := spoolErrReason(aerr)
		drops.WithLabelValues(reason).Inc()
		h.logger.Error("audit record of a served request dropped", zap.String("reason", reason),
			zap.String("request_id", rec.RequestID), zap.Error(aerr))
		return
	}
	recordedRequest.Inc()
}

// upstreamURL is http://hostport, made once per upstream.
func (h *Handler) upstreamURL(hostport string) string {
	if u, _ := h.lastUpstream.Load().(*upstreamURL); u != nil && u.hostport == hostport {
		return u.url
	}
	u := &upstreamURL{hostport: hostport, url: "http://" + hostport}
	h.lastUpstream.Store(u)
	return u.url
}

// classify reads the request as fhir_guard would, for routes without one,
// so that the event still says which FHIR interaction was asked for.
func (h *Handler) classify(r *http.Request) fhirreq.Interaction {
	p, q, err := fhirreq.SplitTarget(r.RequestURI)
	if err == nil {
		p, err = fhirreq.Canonicalize(p)
	}
	if err != nil {
		return fhirreq.Interaction{Why: "ambiguous request path"}
	}
	return fhirreq.Classify(r.Method, p, q, h.FHIRBases)
}

// statusRecorder notes the status and body size of the response while
// passing everything through. Embedding ResponseWriterWrapper keeps
// http.ResponseController (Flush, Hijack, deadlines), Push and ReadFrom
// working.
type statusRecorder struct {
	caddyhttp.ResponseWriterWrapper
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *statusRecorder) WriteHeader(status int) {
	// 1xx interim responses (but 101) are not the final status.
	if !w.wroteHeader && (status >= 200 || status == http.StatusSwitchingProtocols) {
		w.status, w.wroteHeader = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher for handlers that assert it rather than
// use http.ResponseController.
func (w *statusRecorder) Flush() {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// ReadFrom counts what the wrapped writer's ReadFrom copies (reverse_proxy
// and file_server use it).
func (w *statusRecorder) ReadFrom(r io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	n, err := w.ResponseWriterWrapper.ReadFrom(r)
	w.bytes += n
	return n, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ http.Flusher                = (*statusRecorder)(nil)
	_ io.ReaderFrom               = (*statusRecorder)(nil)
)
