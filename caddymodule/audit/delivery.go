package audit

import (
	"context"
	"runtime"
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
	var held []spooled // read but not yet delivered
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
			}
			more, err := s.reader.read(a.BatchSize-len(held), after)
			if err != nil {
				a.logger.Error("reading the audit spool", zap.String("sink", s.name), zap.Error(err))
			}
			held = append(held, more...)
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
		events := a.build(held)
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

// build turns spooled records into events, in parallel for big batches.
// Each event is built once however many sinks deliver it. A record the
// builder rejects is logged and left out (it would otherwise block every
// sink forever).
func (a *App) build(raws []spooled) []auditsink.Event {
	entries := make([]*cacheEntry, len(raws))
	for i, r := range raws {
		entries[i] = a.cache.get(r.seq)
	}
	workers := min(runtime.GOMAXPROCS(0), len(raws)/32+1)
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
			buildErrors.Inc()
			a.logger.Error("audit record could not be built into an AuditEvent; skipped", zap.Uint64("seq", r.seq), zap.Error(e.err))
		}
	})
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
