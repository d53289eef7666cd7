// Package audit is crgate's audit pipeline: the audit app (a durable spool
// on disk, one delivery loop per sink), the http.handlers.audit handler
// that records every request, the caddy.listeners.handshake_audit
// listener wrapper that records every failed TLS handshake, and the
// `crgate audit` auditor commands (verify, search, export).
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/balp"
)

func init() {
	caddy.RegisterModule(App{})
}

// Durability modes.
const (
	DurabilitySync  = "sync"
	DurabilityAsync = "async"
)

// Full policies.
const (
	FailClosed = "fail_closed"
	FailOpen   = "fail_open"
)

// Defaults.
const (
	defaultMaxSize      = 1 << 30
	defaultSegmentSize  = 16 << 20
	defaultBatchSize    = 1024
	defaultRetryMin     = 100 * time.Millisecond
	defaultRetryMax     = 30 * time.Second
	defaultDrainTimeout = 5 * time.Second
	// defaultFlushInterval bounds how long records nobody waits for stay
	// in memory before the spool writes and fsyncs them: async requests'
	// records and sync completions. 20 fsyncs a second cost nothing; one
	// per request (or per small group) cost 7-18 % of the gateway's CPU.
	defaultFlushInterval = 50 * time.Millisecond
	// defaultBatchLinger is how long delivery waits for more events after
	// a batch smaller than batch_size, so a trickle is delivered (and the
	// file sink fsynced) in batches rather than one event at a time.
	defaultBatchLinger = 5 * time.Millisecond
)

// spools keeps each open spool (by directory) across config reloads: a
// reload provisions the new app while the old one still runs, and both
// must use one spool, never reopen (and re-recover) it.
var spools = caddy.NewUsagePool()

// App is the audit app: every audit record goes into its spool on disk and
// from there, in order, to each of its sinks.
type App struct {
	// SpoolDir is the spool's directory (created 0700). It must be on a
	// local file system and used by one crgate only (a lock file enforces
	// it). Default: <caddy data dir>/audit/spool.
	SpoolDir string `json:"spool_dir,omitempty"`

	// Durability is "sync" (default) or "async". With sync, a request's
	// record is written and fsynced before the request is forwarded, so no
	// request reaches the registry unrecorded; its completion (status,
	// outcome) is appended after the response, written to the OS at once
	// and fsynced within FlushInterval (a machine crash before that
	// delivers the record as incomplete). With async, the record is
	// appended after the response, written to the OS at once and fsynced
	// within FlushInterval, so a crash of the machine can lose the records
	// of the last FlushInterval (plus the fsync's own time), a killed
	// process only what the writer had not handed over yet; it saves the
	// fsync wait on the request path.
	Durability string `json:"durability,omitempty"`

	// FlushInterval is the longest a record nobody waits for (async
	// requests, sync completions, refused handshakes) stays in memory
	// before the spool writes and fsyncs it (default 50ms; more than 1 MiB
	// waiting is written at once). It is the window of loss in async mode
	// and the delivery delay. Records that must be durable at once (sync
	// starts, application and admin events under sync) never wait for it.
	FlushInterval caddy.Duration `json:"flush_interval,omitempty"`

	// BatchLinger is how long delivery waits for more events after a batch
	// smaller than BatchSize before handing the next one to the sinks
	// (default 5ms), so a trickle of events costs the sinks one write and
	// one fsync per few milliseconds, not one per event.
	BatchLinger caddy.Duration `json:"batch_linger,omitempty"`

	// SpoolMaxSize is the spool's size limit in bytes (default 1 GiB). A
	// sink that is down makes the spool grow; at the limit, WhenFull
	// applies. A reserve above it (1/16 of it, at least 1 MiB) still takes
	// completions of accepted requests, handshake alerts and application
	// events.
	SpoolMaxSize int64 `json:"spool_max_size,omitempty"`

	// SegmentSize is the size at which a spool segment file is closed and
	// a new one started (default 16 MiB). Delivered segments are deleted
	// whole.
	SegmentSize int64 `json:"segment_size,omitempty"`

	// WhenFull is what happens to new requests when the spool is full:
	// "fail_closed" (default) answers 503 and forwards nothing, so nothing
	// reaches the registry unrecorded; "fail_open" serves them unrecorded
	// and counts each in crgate_audit_drops_total. fail_open trades the
	// audit promise for availability.
	WhenFull string `json:"when_full,omitempty"`

	// Site, ObserverID and ObserverName identify this gateway as the
	// events' audit source (AuditEvent.source). ObserverID defaults to the
	// host name.
	Site         string `json:"site,omitempty"`
	ObserverID   string `json:"observer_id,omitempty"`
	ObserverName string `json:"observer_name,omitempty"`

	// BatchSize is the most events handed to a sink at once (default 1024).
	BatchSize int `json:"batch_size,omitempty"`

	// RetryMin and RetryMax bound the exponential backoff after a failed
	// delivery (defaults 100ms and 30s).
	RetryMin caddy.Duration `json:"retry_min,omitempty"`
	RetryMax caddy.Duration `json:"retry_max,omitempty"`

	// DrainTimeout is how long stopping the gateway waits for the sinks to
	// take what is in the spool (default 5s). What they do not take stays
	// in the spool for the next start.
	DrainTimeout caddy.Duration `json:"drain_timeout,omitempty"`

	// SinksRaw are the sinks (modules audit.sinks.*). Each gets every
	// event, in spool order, at least once. A sink's delivery position is
	// kept under its name: the module name, with "-2", "-3"… for further
	// sinks of the same module, so reordering sinks of one kind moves
	// their positions. At least one sink is required.
	SinksRaw []json.RawMessage `json:"sinks,omitempty" caddy:"namespace=audit.sinks inline_key=sink"`

	sinks    []*sinkRun
	spool    *spool
	poolKey  string
	opened   bool          // this app opened the spool (not a reload sharing it)
	inflight *atomic.Int64 // requests inside this config's audit handlers
	cleaned  bool
	builder  *balp.Builder
	cache    *eventCache
	logger   *zap.Logger
	sync     bool
	failOpen bool
	cancel   context.CancelFunc
	wg       *sync.WaitGroup

	// watched are the HTTP servers whose connections this config's
	// audit handlers watch for requests answered before any route.
	watched *serverSet
}

// sinkRun is one sink and its delivery state.
type sinkRun struct {
	name   string
	sink   auditsink.Sink
	cursor *cursor
	reader *reader
	// scratch is the batch memory when this is the app's only sink.
	scratch batchScratch
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  auditrec.AppName,
		New: func() caddy.Module { return new(App) },
	}
}

// Provision applies defaults, loads the sinks and opens (or shares) the
// spool.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.watched = &serverSet{m: make(map[*caddyhttp.Server]bool)}
	a.inflight = new(atomic.Int64)
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if a.SpoolDir == "" {
		a.SpoolDir = filepath.Join(caddy.AppDataDir(), "audit", "spool")
	}
	if a.Durability == "" {
		a.Durability = DurabilitySync
	}
	if a.WhenFull == "" {
		a.WhenFull = FailClosed
	}
	if a.SpoolMaxSize == 0 {
		a.SpoolMaxSize = defaultMaxSize
	}
	if a.SegmentSize == 0 {
		a.SegmentSize = min(defaultSegmentSize, max(a.SpoolMaxSize/8, 64<<10))
	}
	if a.BatchSize == 0 {
		a.BatchSize = defaultBatchSize
	}
	if a.RetryMin == 0 {
		a.RetryMin = caddy.Duration(defaultRetryMin)
	}
	if a.RetryMax == 0 {
		a.RetryMax = caddy.Duration(defaultRetryMax)
	}
	if a.DrainTimeout == 0 {
		a.DrainTimeout = caddy.Duration(defaultDrainTimeout)
	}
	if a.FlushInterval == 0 {
		a.FlushInterval = caddy.Duration(defaultFlushInterval)
	}
	if a.BatchLinger == 0 {
		a.BatchLinger = caddy.Duration(defaultBatchLinger)
	}
	if a.ObserverID == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("observer_id: not set and no host name: %w", err)
		}
		a.ObserverID = host
	}
	if err := a.Validate(); err != nil {
		return err
	}
	a.sync = a.Durability == DurabilitySync
	a.failOpen = a.WhenFull == FailOpen
	var err error
	a.builder, err = balp.NewBuilder(balp.Source{Site: a.Site, ObserverID: a.ObserverID, ObserverName: a.ObserverName})
	if err != nil {
		return fmt.Errorf("observer_id: %w", err)
	}

	mods, err := ctx.LoadModule(a, "SinksRaw")
	if err != nil {
		return fmt.Errorf("loading audit sinks: %w", err)
	}
	seen := map[string]int{}
	for i, m := range mods.([]any) {
		s, ok := m.(auditsink.Sink)
		if !ok {
			return fmt.Errorf("sinks[%d]: %T is not an audit sink", i, m)
		}
		mod := caddy.GetModuleName(m)
		seen[mod]++
		name := mod
		if seen[mod] > 1 {
			name = fmt.Sprintf("%s-%d", mod, seen[mod])
		}
		a.sinks = append(a.sinks, &sinkRun{name: name, sink: s})
	}
	if len(a.sinks) == 0 {
		return errors.New("sinks: at least one sink is required (e.g. `sink file <path>`); without one the spool only fills")
	}
	if len(a.sinks) > 1 {
		// Sinks at about the same position share each built event. A lone
		// sink builds every batch into reused memory instead (batchScratch):
		// a cache would only keep thousands of events alive for nothing.
		a.cache = newEventCache(8192)
	}

	dir, err := filepath.Abs(a.SpoolDir)
	if err != nil {
		return fmt.Errorf("spool_dir: %w", err)
	}
	a.poolKey = "crgate.audit.spool:" + dir
	val, loaded, err := spools.LoadOrNew(a.poolKey, func() (caddy.Destructor, error) {
		return openSpool(spoolConfig{dir: dir, maxBytes: a.SpoolMaxSize, segmentBytes: a.SegmentSize,
			flushInterval: time.Duration(a.FlushInterval), logger: a.logger.Named("spool")})
	})
	if err != nil {
		return fmt.Errorf("spool_dir %s: %w", dir, err)
	}
	a.spool = val.(*spool)
	a.opened = !loaded
	if loaded {
		// A reload may change the limits; the spool keeps the new ones.
		a.spool.setLimits(a.SpoolMaxSize, a.SegmentSize, time.Duration(a.FlushInterval))
	}
	for _, s := range a.sinks {
		if s.cursor, err = a.spool.cursor(s.name); err != nil {
			return err
		}
		s.reader = a.spool.newReader()
	}
	return nil
}

// Validate checks the configuration's invariants.
func (a *App) Validate() error {
	switch a.Durability {
	case DurabilitySync, DurabilityAsync:
	default:
		return fmt.Errorf("durability: %q: want %q or %q", a.Durability, DurabilitySync, DurabilityAsync)
	}
	switch a.WhenFull {
	case FailClosed, FailOpen:
	default:
		return fmt.Errorf("when_full: %q: want %q or %q", a.WhenFull, FailClosed, FailOpen)
	}
	if a.SpoolMaxSize < 256<<10 {
		return fmt.Errorf("spool_max_size: %d bytes is below the 256 KiB minimum", a.SpoolMaxSize)
	}
	if a.SegmentSize < 64<<10 || a.SegmentSize > a.SpoolMaxSize {
		return fmt.Errorf("segment_size: %d bytes: want 64 KiB up to spool_max_size", a.SegmentSize)
	}
	if a.BatchSize < 1 || a.BatchSize > 10000 {
		return fmt.Errorf("batch_size: %d: want 1 to 10000", a.BatchSize)
	}
	if a.FlushInterval < 0 || a.FlushInterval > caddy.Duration(time.Second) {
		return fmt.Errorf("flush_interval: %s: want a positive duration up to 1s", time.Duration(a.FlushInterval))
	}
	if a.BatchLinger < 0 || a.BatchLinger > caddy.Duration(time.Second) {
		return fmt.Errorf("batch_linger: %s: want a positive duration up to 1s", time.Duration(a.BatchLinger))
	}
	if a.RetryMin <= 0 || a.RetryMax < a.RetryMin {
		return fmt.Errorf("retry_min %s, retry_max %s: want 0 < retry_min ≤ retry_max", time.Duration(a.RetryMin), time.Duration(a.RetryMax))
	}
	return nil
}

// Start starts one delivery loop per sink and, when this app opened the
// spool, records the application start.
func (a *App) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg = new(sync.WaitGroup)
	for _, s := range a.sinks {
		a.wg.Add(1)
		go a.deliver(ctx, s)
	}
	if a.opened {
		rec := &auditrec.Record{Kind: auditrec.KindApplicationStart, ID: newUUID(), Time: now()}
		if err := a.recordApp(rec); err != nil {
			return fmt.Errorf("recording the application start: %w", err)
		}
	}
	if a.sync && runtime.GOMAXPROCS(0) == 1 {
		// An fsync holds its goroutine's P for its whole duration: with
		// one P every request waits for every group commit, and sync
		// throughput collapses (~720 req/s on one pinned CPU at 64
		// connections, against ~5,480 with more Ps). The crgate binary
		// raises GOMAXPROCS to 2 on a one-CPU host (cmd/crgate/procs.go),
		// so this only fires when the operator set GOMAXPROCS=1 or the
		// app runs in another binary.
		a.logger.Warn("durability sync with GOMAXPROCS=1: every spool fsync stalls the whole gateway; run with GOMAXPROCS=2 or more, even on one CPU",
			zap.Int("gomaxprocs", 1))
	}
	a.logger.Info("audit pipeline started", zap.String("spool_dir", a.SpoolDir), zap.String("durability", a.Durability),
		zap.String("when_full", a.WhenFull), zap.Int("sinks", len(a.sinks)))
	return nil
}

// Stop stops the delivery loops. When a reload replaces this config the
// new config's loops take over the same cursors at once. When no other
// config shares the spool the gateway is stopping: Stop waits (up to
// DrainTimeout) for the requests in flight in this config's handlers —
// Caddy stops its apps in no fixed order, so the HTTP servers may still be
// finishing them — then records the application stop and gives the sinks
// DrainTimeout to take the rest. It must finish before the sinks are
// cleaned up, which Caddy does right after. Events of requests that finish
// later stay in the spool for the next start.
func (a *App) Stop() error {
	if a.cancel == nil {
		return nil
	}
	if refs, _ := spools.References(a.poolKey); refs <= 1 {
		limit := time.Duration(a.DrainTimeout)
		deadline := time.Now().Add(limit)
		for a.inflight.Load() > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		rec := &auditrec.Record{Kind: auditrec.KindApplicationStop, ID: newUUID(), Time: now()}
		if err := a.recordApp(rec); err != nil {
			a.logger.Error("recording the application stop", zap.Error(err))
		}
		a.drain(limit)
	}
	a.stopDelivery()
	return nil
}

// stopDelivery cancels the delivery loops and waits for them, but not for
// ever: a sink stuck in a call that ignores its context (e.g. a write to a
// dead file system) must not hold up the gateway's stop. Its cursor stays
// where it was; the events are offered again later.
func (a *App) stopDelivery() {
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.cancel = nil
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopWait):
		a.logger.Error("an audit sink did not return after stopping; leaving it behind", zap.Duration("waited", stopWait))
	}
}

// stopWait bounds how long stopping waits for the delivery loops.
const stopWait = 5 * time.Second

// drain waits until every sink has taken what the spool holds, or limit.
func (a *App) drain(limit time.Duration) {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		_, written := a.spool.stats()
		done := true
		for _, s := range a.sinks {
			if s.cursor.seq.Load() < written {
				done = false
			}
		}
		if done {
			return
		}
		select {
		case <-deadline.C:
			a.logger.Warn("audit sinks did not take every event before stopping; they stay in the spool for the next start")
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Cleanup releases the cursors and this app's use of the spool; the last
// user closes it.
func (a *App) Cleanup() error {
	if a.spool == nil || a.cleaned {
		return nil
	}
	a.cleaned = true
	a.stopDelivery()
	for _, s := range a.sinks {
		if s.cursor != nil {
			a.spool.release(s.cursor)
		}
		if s.reader != nil {
			s.reader.close()
		}
	}
	// a.spool stays set: a handler of this config still finishing a
	// request after a reload's grace period appends to the shared spool,
	// or, once it is closed, gets an error (counted as a drop), never a
	// nil pointer.
	_, err := spools.Delete(a.poolKey)
	return err
}

// Record implements auditrec.Recorder for other capabilities' records
// (e.g. admin logins): durable before it returns under sync durability.
// When the spool is full it returns ErrSpoolFull under fail_closed (the
// caller must refuse what it was about to do) and nil under fail_open
// (counted as a drop).
func (a *App) Record(rec *auditrec.Record) error {
	if rec.ID == "" {
		rec.ID = newUUID()
	}
	_, err := a.spool.append(frameEvent, 0, rec, false, a.sync)
	if err != nil {
		if a.failOpen && errors.Is(err, ErrSpoolFull) {
			drops.WithLabelValues("spool_full").Inc()
			return nil
		}
		return err
	}
	countRecorded(rec.Kind)
	return nil
}

// recordApp records an application event, durably, using the reserve.
func (a *App) recordApp(rec *auditrec.Record) error {
	if _, err := a.spool.append(frameEvent, 0, rec, true, true); err != nil {
		return err
	}
	countRecorded(rec.Kind)
	return nil
}

// recordAlert records a refused handshake: using the reserve, never
// waiting (the connection is refused whatever happens), counted as a drop
// when even the reserve is exhausted.
func (a *App) recordAlert(rec *auditrec.Record) {
	if _, err := a.spool.append(frameEvent, 0, rec, true, false); err != nil {
		reason := spoolErrReason(err)
		drops.WithLabelValues(reason).Inc()
		a.logger.Error("audit record of a refused handshake or unrouted request dropped", zap.String("reason", reason), zap.Error(err))
		return
	}
	countRecorded(rec.Kind)
}

// spoolErrReason is the metric and refusal label of a spool error.
func spoolErrReason(err error) string {
	if errors.Is(err, ErrSpoolFull) {
		return "spool_full"
	}
	return "spool_error"
}

var (
	recordedRequest   = eventsRecorded.WithLabelValues("request")
	recordedHandshake = eventsRecorded.WithLabelValues("handshake")
	recordedApp       = eventsRecorded.WithLabelValues("application")
	recordedUser      = eventsRecorded.WithLabelValues("user")
)

func countRecorded(k auditrec.Kind) {
	switch k {
	case auditrec.KindRequest:
		recordedRequest.Inc()
	case auditrec.KindHandshake:
		recordedHandshake.Inc()
	case auditrec.KindApplicationStart, auditrec.KindApplicationStop:
		recordedApp.Inc()
	default:
		recordedUser.Inc()
	}
}

// now is the pipeline's clock; tests replace it.
var now = time.Now

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ auditrec.Recorder  = (*App)(nil)
)
