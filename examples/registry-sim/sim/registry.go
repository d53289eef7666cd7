package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultMaxRecords bounds the request recorder when
	// Options.MaxRecords is zero.
	DefaultMaxRecords = 100000
	// DefaultMaxBodyBytes is the largest request body the registry surface
	// reads; larger ones are recorded as far as they were read and answered
	// 413.
	DefaultMaxBodyBytes = 64 << 20
	// MaxDelay bounds POST /delay-next so a mistaken test cannot park
	// connections for longer than a minute.
	MaxDelay = 60 * time.Second
)

// now is the clock; tests replace it.
var now = time.Now

// Options configure a Registry.
type Options struct {
	// Patients is the size of the synthetic population, 1 to MaxPatients.
	// Zero means DefaultPatients.
	Patients int
	// NoRecord turns the request recorder off, for benchmarks: recording
	// clones every request's headers. The zero value records.
	NoRecord bool
	// MaxRecords is how many requests the recorder keeps before it drops
	// the oldest. Zero means DefaultMaxRecords.
	MaxRecords int
	// MaxBodyBytes is the largest request body accepted. Zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// Registry is the simulated registry surface (an http.Handler) together
// with its recorder and fault switches, which ControlHandler exposes.
type Registry struct {
	record  bool
	maxBody int64

	patients []*patient
	byID     map[string]*patient
	byIdent  map[identKey]*patient
	// historyOrder is every version of every patient, newest first: the
	// system and type _history.
	historyOrder []verRef
	capStmt      []byte
	capLen       []string
	esHits       []byte

	rec *recorder

	// faultsArmed lets the hot path skip the fault mutex entirely while no
	// test has asked for a failure or a delay.
	faultsArmed atomic.Bool
	faultMu     sync.Mutex
	failStatus  int
	failCount   int
	delay       time.Duration
	delayCount  int

	nextID    atomic.Int64 // server-assigned ids for creates
	bundleSeq atomic.Uint64
}

type identKey struct{ system, value string }

// NewRegistry builds the synthetic population and every precomputed
// response.
func NewRegistry(o Options) (*Registry, error) {
	if o.Patients == 0 {
		o.Patients = DefaultPatients
	}
	if o.Patients < 1 || o.Patients > MaxPatients {
		return nil, fmt.Errorf("patients: %d is outside 1..%d", o.Patients, MaxPatients)
	}
	if o.MaxRecords == 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	if o.MaxRecords < 1 {
		return nil, fmt.Errorf("max records: %d is not positive", o.MaxRecords)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxBodyBytes < 1 {
		return nil, fmt.Errorf("max body bytes: %d is not positive", o.MaxBodyBytes)
	}
	pats, err := newPopulation(o.Patients)
	if err != nil {
		return nil, err
	}
	g := &Registry{
		record:   !o.NoRecord,
		maxBody:  o.MaxBodyBytes,
		patients: pats,
		byID:     make(map[string]*patient, len(pats)),
		byIdent:  make(map[identKey]*patient, 3*len(pats)),
		rec:      newRecorder(o.MaxRecords),
	}
	for _, p := range pats {
		g.byID[p.id] = p
		for _, id := range p.identifier {
			g.byIdent[identKey{id.System, id.Value}] = p
		}
	}
	for _, p := range pats {
		for v := range p.versions {
			g.historyOrder = append(g.historyOrder, verRef{p, v + 1})
		}
	}
	slices.SortStableFunc(g.historyOrder, func(a, b verRef) int {
		return strings.Compare(b.p.versions[b.v-1].lastUpdated, a.p.versions[a.v-1].lastUpdated)
	})
	g.nextID.Store(1000)
	g.capStmt = capabilityStatement()
	g.capLen = []string{strconv.Itoa(len(g.capStmt))}
	g.esHits = esSearchHits(pats)
	return g, nil
}

// Shared header values. net/http never modifies a value slice, so every
// response can point at the same one instead of allocating its own.
var (
	hdrOne      = []string{"1"}
	ctFHIR      = []string{"application/fhir+json; charset=utf-8"}
	ctJSON      = []string{"application/json; charset=utf-8"}
	ctHTML      = []string{"text/html; charset=utf-8"}
	poweredHAPI = []string{"HAPI FHIR 8.4.0 REST Server (FHIR Server; FHIR 4.0.1/R4)"}
)

// ServeHTTP records the request, applies any pending delay or failure and
// then answers as the registry would.
func (g *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var started time.Time
	if g.record {
		started = now()
	}
	body, n, sum, bodyErr := g.readBody(r)
	if g.record {
		rec := newRecord(r, started)
		rec.BodyBytes = n
		rec.BodySHA256 = hex.EncodeToString(sum[:])
		if bodyErr != nil {
			rec.BodyError = bodyErr.Error()
		}
		g.rec.add(rec)
	}
	w.Header()["X-Registry-Sim"] = hdrOne
	if bodyErr != nil {
		status, code := http.StatusBadRequest, "incomplete"
		if errors.Is(bodyErr, errBodyTooLarge) {
			status, code = http.StatusRequestEntityTooLarge, "too-costly"
		}
		writeOO(w, status, "error", code, bodyErr.Error())
		return
	}
	if g.faultsArmed.Load() {
		d, fail := g.takeFaults()
		if d > 0 {
			sleep(r.Context(), d)
		}
		if fail != 0 {
			writeOO(w, fail, "error", "exception", "simulated upstream failure (status "+strconv.Itoa(fail)+")")
			return
		}
	}
	g.route(w, r, body)
}

var errBodyTooLarge = errors.New("request body too large")

// readBody reads the whole body (the handlers need it and the record
// needs its hash). sum is the SHA-256 of what arrived, computed only when
// recording.
func (g *Registry) readBody(r *http.Request) (body []byte, n int64, sum [sha256.Size]byte, err error) {
	if r.Body == nil || r.Body == http.NoBody {
		if g.record {
			sum = sha256.Sum256(nil)
		}
		return nil, 0, sum, nil
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= g.maxBody {
		buf.Grow(int(r.ContentLength) + 1)
	}
	n, err = buf.ReadFrom(io.LimitReader(r.Body, g.maxBody+1))
	if err == nil && n > g.maxBody {
		err = fmt.Errorf("%w: more than %d bytes", errBodyTooLarge, g.maxBody)
	} else if err != nil {
		err = fmt.Errorf("reading request body: %w", err)
	}
	body = buf.Bytes()
	if g.record {
		sum = sha256.Sum256(body)
	}
	return body, n, sum, err
}

func (g *Registry) takeFaults() (delay time.Duration, failStatus int) {
	g.faultMu.Lock()
	defer g.faultMu.Unlock()
	if g.delayCount > 0 {
		g.delayCount--
		delay = g.delay
	}
	if g.failCount > 0 {
		g.failCount--
		failStatus = g.failStatus
	}
	g.faultsArmed.Store(g.delayCount > 0 || g.failCount > 0)
	return delay, failStatus
}

// FailNext makes the next count requests to the registry surface answer
// status with an OperationOutcome. It replaces any pending failure; a
// count of zero cancels it.
func (g *Registry) FailNext(status, count int) error {
	if status < 400 || status > 599 {
		return fmt.Errorf("status %d is not an HTTP error status (400-599)", status)
	}
	if count < 0 {
		return fmt.Errorf("count %d is negative", count)
	}
	g.faultMu.Lock()
	g.failStatus, g.failCount = status, count
	g.faultsArmed.Store(g.delayCount > 0 || g.failCount > 0)
	g.faultMu.Unlock()
	return nil
}

// DelayNext makes the next count requests wait d before they are answered.
// It replaces any pending delay; a count of zero cancels it.
func (g *Registry) DelayNext(d time.Duration, count int) error {
	if d < 0 || d > MaxDelay {
		return fmt.Errorf("delay %s is outside 0..%s", d, MaxDelay)
	}
	if count < 0 {
		return fmt.Errorf("count %d is negative", count)
	}
	g.faultMu.Lock()
	g.delay, g.delayCount = d, count
	g.faultsArmed.Store(g.delayCount > 0 || g.failCount > 0)
	g.faultMu.Unlock()
	return nil
}

// Records returns the recorded requests with Seq greater than after.
func (g *Registry) Records(after int64) []Record {
	recs, _, _ := g.rec.since(after)
	return recs
}

// ResetRecords forgets every recorded request. Sequence numbers carry on.
func (g *Registry) ResetRecords() { g.rec.reset() }

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// containerPath is the path the request is routed on: what a servlet
// container would serve for it. Path parameters (";jsessionid=…") are cut
// from every segment before percent-decoding, as Tomcat does, then dot
// segments and empty segments are resolved, so "/fhir/..;/home" answers as
// "/home". The simulator applies this to every surface, not only HAPI's:
// answering more paths makes a gateway bypass more visible, never less.
func containerPath(u *url.URL) (string, bool) {
	p := u.Path
	if p == "" {
		return "/", true
	}
	if p[0] != '/' {
		// "*" (OPTIONS *) and other non-path request targets route nowhere.
		return p, true
	}
	if u.RawPath == "" && strings.IndexByte(p, ';') < 0 && !strings.Contains(p, "//") &&
		!strings.Contains(p, "/.") && (len(p) == 1 || p[len(p)-1] != '/') {
		return p, true
	}
	esc := u.EscapedPath()
	var sb strings.Builder
	sb.Grow(len(esc))
	for seg := range strings.SplitSeq(esc, "/") {
		seg, _, _ = strings.Cut(seg, ";")
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return "", false
		}
		sb.WriteByte('/')
		sb.WriteString(dec)
	}
	return path.Clean(sb.String()), true
}

// route dispatches on the container path. The order matters where
// surfaces overlap: HAPI's non-FHIR endpoints under /fhir before the FHIR
// service, OpenCR and the tester UI before Elasticsearch's "/{index}".
func (g *Registry) route(w http.ResponseWriter, r *http.Request, body []byte) {
	p, ok := containerPath(r.URL)
	if !ok {
		writeJSON(w, http.StatusBadRequest, ctJSON, `{"error":"bad request","reason":"invalid percent-encoding in path"}`)
		return
	}
	if base, rest, ok := fhirBase(p); ok {
		if hapiExtra(w, r, rest) {
			return
		}
		req := fhirReq{
			method:   r.Method,
			host:     r.Host,
			base:     base,
			rest:     rest,
			rawQuery: r.URL.RawQuery,
			body:     body,
			ctype:    r.Header.Get("Content-Type"),
		}
		g.fhir(w, &req)
		return
	}
	if opencr(w, r, p) || hapiUI(w, r, p) || g.elastic(w, r, p) {
		return
	}
	notFound(w, p)
}

func notFound(w http.ResponseWriter, p string) {
	b := []byte(`{"error":"not found","path":`)
	b = appendJSONString(b, p)
	b = append(b, '}')
	writeBytes(w, http.StatusNotFound, ctJSON, b)
}

func writeBytes(w http.ResponseWriter, status int, ctype []string, body []byte) {
	h := w.Header()
	h["Content-Type"] = ctype
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, ctype []string, body string) {
	h := w.Header()
	h["Content-Type"] = ctype
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// writeOO answers with a one-issue OperationOutcome, HAPI's way of saying
// anything that is not a resource.
func writeOO(w http.ResponseWriter, status int, severity, code, diagnostics string) {
	bp := getBuf()
	b := appendOO(*bp, severity, code, diagnostics)
	w.Header()["X-Powered-By"] = poweredHAPI
	writeBytes(w, status, ctFHIR, b)
	*bp = b
	putBuf(bp)
}

func appendOO(b []byte, severity, code, diagnostics string) []byte {
	b = append(b, `{"resourceType":"OperationOutcome","issue":[{"severity":`...)
	b = appendJSONString(b, severity)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"diagnostics":`...)
	b = appendJSONString(b, diagnostics)
	return append(b, `}]}`...)
}
