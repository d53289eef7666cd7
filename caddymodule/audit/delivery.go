package audit

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/auditrec"
)

// deliver is one sink's delivery loop: read the events after the sink's
// cursor, build them (or take them from the cache), hand them over, move
// the cursor past what the sink reports delivered; on failure, back off
// exponentially and offer the rest again. It runs until ctx ends.
func (a *App) deliver(ctx context.Context, s *sinkRun) {
	defer a.wg.Done()
	delivered := eventsDelivered.WithLabelValues(s.name)
	pending := eventsPending.WithLabelValues(s.name)
	failures := deliveryErrors.WithLabelValues(s.name)
	latency := deliveryLatency.WithLabelValues(s.name)
	backoff := time.Duration(a.RetryMin)
	base := make([]spooled, 0, a.BatchSize)
	held := base // read but not yet delivered
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	for ctx.Err() == nil {
		wake := a.spool.waitChan()
		s.cursor.mu.Lock()
		cur := s.cursor.seq.Load()
		// Another config's loop may have moved the cursor meanwhile.
		for len(held) > 0 && held[0].seq <= cur {
			held = held[1:]
		}
		if len(held) < a.BatchSize {
			after := cur
			if len(held) > 0 {
				after = held[len(held)-1].seq
			} else {
				held = base
			}
			// Nothing held: no event built from the reader's memory is in
			// use any more (the last Deliver has returned), so it is reused.
			var err error
			held, err = s.reader.read(held, a.BatchSize-len(held), after, len(held) == 0)
			if err != nil {
				a.logger.Error("reading the audit spool", zap.String("sink", s.name), zap.Error(err))
			}
		}
		if len(held) == 0 {
			s.cursor.mu.Unlock()
			bytes, written := a.spool.stats()
			spoolBytes.Set(float64(bytes))
			pending.Set(float64(written - min(written, cur)))
			select {
			case <-ctx.Done():
			case <-wake:
			case <-time.After(time.Second):
			}
			continue
		}
		var events []auditsink.Event
		if a.cache != nil {
			events = a.build(held)
		} else {
			events = s.scratch.build(a, held)
		}
		n, err := s.sink.Deliver(ctx, events)
		n = min(max(n, 0), len(events))
		var last uint64
		switch {
		case err == nil && n == len(events):
			// Everything offered is delivered; records the builder
			// rejected (left out of events) are passed over with them.
			last = held[len(held)-1].seq
		case n > 0:
			last = events[n-1].Seq
		}
		if last > cur {
			if aerr := s.cursor.advance(last); aerr != nil {
				a.logger.Error("persisting the audit cursor", zap.String("sink", s.name), zap.Error(aerr))
			}
			t := now()
			for _, ev := range events[:n] {
				latency.Observe(t.Sub(ev.Recorded).Seconds())
			}
			delivered.Add(float64(n))
			held = dropThrough(held, last)
		}
		cur = s.cursor.seq.Load()
		s.cursor.mu.Unlock()
		if a.cache == nil {
			s.scratch.release()
		}
		a.spool.gc()
		_, written := a.spool.stats()
		pending.Set(float64(written - min(written, cur)))
		if err == nil && n == len(events) {
			backoff = time.Duration(a.RetryMin)
			if len(events) < a.BatchSize && a.BatchLinger > 0 {
				// A partial batch: let more events gather, so a trickle
				// costs the sink one write and fsync per linger, not per
				// event.
				linger.Reset(time.Duration(a.BatchLinger))
				select {
				case <-ctx.Done():
				case <-linger.C:
				}
			}
			continue
		}
		failures.Inc()
		if ctx.Err() == nil {
			a.logger.Warn("audit sink delivery failed; retrying", zap.String("sink", s.name),
				zap.Int("delivered", n), zap.Int("offered", len(events)), zap.Duration("backoff", backoff), zap.Error(err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Duration(a.RetryMax))
	}
}

// dropThrough removes the events up to seq from held.
func dropThrough(held []spooled, seq uint64) []spooled {
	i := 0
	for i < len(held) && held[i].seq <= seq {
		i++
	}
	return held[i:]
}

// buildWorkers is how many goroutines build a batch of n events: one per
// 32 events, at most one per CPU. GOMAXPROCS alone is no bound: crgate
// raises it to 2 on a one-CPU host (cmd/crgate/procs.go), where a second
// worker only adds switching.
func buildWorkers(n int) int {
	return max(1, min(runtime.GOMAXPROCS(0), runtime.NumCPU(), n/32+1))
}

// build turns spooled records into events, in parallel for big batches,
// through the cache: each event is built once however many sinks deliver
// it (more than one sink). A record the builder rejects is logged and left
// out (it would otherwise block every sink forever).
func (a *App) build(raws []spooled) []auditsink.Event {
	entries := make([]*cacheEntry, len(raws))
	for i, r := range raws {
		entries[i] = a.cache.get(r.seq)
	}
	workers := buildWorkers(len(raws))
	if workers <= 1 {
		for i, r := range raws {
			a.buildOne(entries[i], r)
		}
	} else {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(raws); i += workers {
					a.buildOne(entries[i], raws[i])
				}
			})
		}
		wg.Wait()
	}
	events := make([]auditsink.Event, 0, len(raws))
	for _, e := range entries {
		if e.err == nil {
			events = append(events, e.ev)
		}
	}
	return events
}

func (a *App) buildOne(e *cacheEntry, r spooled) {
	e.once.Do(func() {
		rec := new(auditrec.Record)
		if err := decodeRecord(r.rec, rec); err != nil {
			e.err = err
		} else if js, err := a.builder.Marshal(rec); err != nil {
			e.err = err
		} else {
			e.ev = auditsink.Event{Seq: r.seq, ID: rec.ID, Recorded: rec.Time, JSON: js, Record: rec}
		}
		if e.err != nil {
			a.buildFailed(r.seq, e.err)
		}
	})
}

// buildFailed counts and logs a record that could not be built.
func (a *App) buildFailed(seq uint64, err error) {
	buildErrors.Inc()
	a.logger.Error("audit record could not be built into an AuditEvent; skipped", zap.Uint64("seq", seq), zap.Error(err))
}

// batchScratch is the reused memory one sink's delivery loop builds its
// batches in when it is the only sink: no cache, no per-event allocation.
// The records' strings point into the reader's slab and the events' JSON
// into the workers' buffers, so a batch is valid only until the next
// build — auditsink.Event's contract: until Deliver returns.
type batchScratch struct {
	recs   []auditrec.Record
	events []auditsink.Event
	spans  []span   // each record's JSON in its worker's buffer
	bufs   [][]byte // one per worker
}

// span is one event's JSON in a worker's buffer; err when it failed.
type span struct {
	buf, start, end int
	err             error
}

// maxScratchBuf is the largest worker buffer kept between batches.
const maxScratchBuf = 4 << 20

// build decodes and builds raws into x's memory. Each worker builds a
// contiguous run of records into its own buffer; the events' JSON slices
// are taken once every buffer has stopped growing.
func (x *batchScratch) build(a *App, raws []spooled) []auditsink.Event {
	n := len(raws)
	x.recs = slices.Grow(x.recs[:0], n)[:n]
	x.spans = slices.Grow(x.spans[:0], n)[:n]
	workers := buildWorkers(n)
	for len(x.bufs) < workers {
		x.bufs = append(x.bufs, nil)
	}
	one := func(w, lo, hi int) {
		buf := x.bufs[w][:0]
		for i := lo; i < hi; i++ {
			rec := &x.recs[i]
			*rec = auditrec.Record{}
			start := len(buf)
			err := decodeRecordShared(raws[i].rec, rec)
			if err == nil {
				buf, err = a.builder.AppendMarshal(buf, rec)
			}
			x.spans[i] = span{buf: w, start: start, end: len(buf), err: err}
		}
		x.bufs[w] = buf
	}
	if workers == 1 {
		one(0, 0, n)
	} else {
		var wg sync.WaitGroup
		per := (n + workers - 1) / workers
		for w := range workers {
			lo, hi := min(w*per, n), min((w+1)*per, n)
			wg.Go(func() { one(w, lo, hi) })
		}
		wg.Wait()
	}
	x.events = x.events[:0]
	for i, sp := range x.spans {
		if sp.err != nil {
			a.buildFailed(raws[i].seq, sp.err)
			continue
		}
		rec := &x.recs[i]
		x.events = append(x.events, auditsink.Event{
			Seq: raws[i].seq, ID: rec.ID, Recorded: rec.Time, Record: rec,
			JSON: x.bufs[sp.buf][sp.start:sp.end:sp.end],
		})
	}
	return x.events
}

// release lets go of what a batch of big events left behind, and of the
// references into the reader's slab.
func (x *batchScratch) release() {
	for w, b := range x.bufs {
		if cap(b) > maxScratchBuf {
			x.bufs[w] = nil
		}
	}
	clear(x.events)
	clear(x.recs)
	clear(x.spans)
}

// eventCache keeps recently built events so several sinks at about the
// same position build each one once.
type eventCache struct {
	mu    sync.Mutex
	m     map[uint64]*cacheEntry
	order []uint64 // insertion order, a ring of len max
	next  int
}

type cacheEntry struct {
	once sync.Once
	ev   auditsink.Event
	err  error
}

func newEventCache(n int) *eventCache {
	return &eventCache{m: make(map[uint64]*cacheEntry, n), order: make([]uint64, 0, n)}
}

func (c *eventCache) get(seq uint64) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[seq]; ok {
		return e
	}
	e := new(cacheEntry)
	c.m[seq] = e
	if len(c.order) < cap(c.order) {
		c.order = append(c.order, seq)
	} else {
		delete(c.m, c.order[c.next])
		c.order[c.next] = seq
		c.next = (c.next + 1) % len(c.order)
	}
	return e
}
