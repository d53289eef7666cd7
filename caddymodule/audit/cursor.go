package audit

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// cursor is one sink's durable delivery position: the seq of the last
// event it delivered. It lives in the spool, not in the app, so that the
// delivery loops of an old and a new config (a reload overlaps them) share
// it: mu is held for a whole read-deliver-advance step, so they take turns
// and never deliver the same events twice.
type cursor struct {
	name string
	mu   sync.Mutex
	seq  atomic.Uint64
	// persisted is the last seq written to the cursor file; segment
	// deletion goes by it, never by seq.
	persisted atomic.Uint64
	f         *os.File
	refs      int // apps using it; guarded by the spool's mu
}

var cursorName = regexp.MustCompile(`^[a-z0-9_.-]{1,64}$`)

// cursor returns the named cursor, loading it from disk the first time.
// A new sink starts at the oldest event still in the spool.
func (s *spool) cursor(name string) (*cursor, error) {
	if !cursorName.MatchString(name) {
		return nil, fmt.Errorf("sink name %q: want 1-64 of a-z 0-9 _ . -", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cursors[name]; ok {
		c.refs++
		return c, nil
	}
	path := filepath.Join(s.dir, "cursors", name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening audit cursor: %w", err)
	}
	c := &cursor{name: name, f: f, refs: 1}
	var b [16]byte
	if n, _ := f.ReadAt(b[:], 0); n == 16 {
		if crc32.Checksum(b[:8], castagnoli) == binary.LittleEndian.Uint32(b[8:12]) {
			c.seq.Store(binary.LittleEndian.Uint64(b[:8]))
			c.persisted.Store(c.seq.Load())
		} else {
			// A torn cursor write: start over from the oldest retained
			// event (at-least-once: duplicates, never a gap).
			s.logger.Warn("audit cursor corrupt; redelivering the spool to this sink")
		}
	}
	s.cursors[name] = c
	return c, nil
}

// release drops one app's use of a cursor; the spool keeps it (and its
// events) only while some app delivers to it.
func (s *spool) release(c *cursor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.refs--
}

// advance moves the cursor to seq and persists it. Called with c.mu held.
// If persisting fails the cursor still moves in memory (the events are
// delivered); a restart then redelivers them (at-least-once).
//
// The write is not fsynced: it survives a crash of the process (the page
// cache keeps it); only a crash of the machine can lose it, and then the
// sink gets the events since the last flushed cursor again — duplicates,
// which at-least-once delivery allows, never a gap. Segments are deleted
// only after a cursor sync (see syncForGC), so a lost cursor never points
// into a deleted segment.
func (c *cursor) advance(seq uint64) error {
	defer c.seq.Store(seq)
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], seq)
	binary.LittleEndian.PutUint32(b[8:12], crc32.Checksum(b[:8], castagnoli))
	if _, err := c.f.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("writing audit cursor %s: %w", c.name, err)
	}
	c.persisted.Store(seq)
	return nil
}

// gc deletes the oldest segments every used cursor has passed and that
// hold no start of a request still in flight. The segment being written
// is never deleted.
func (s *spool) gc() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var minCur uint64
	used := false
	for _, c := range s.cursors {
		if c.refs <= 0 {
			continue
		}
		// persisted only grows; a stale value only delays deletion.
		seq := c.persisted.Load()
		if !used || seq < minCur {
			minCur, used = seq, true
		}
	}
	if !used {
		return
	}
	minOpen := ^uint64(0)
	for id := range s.open {
		minOpen = min(minOpen, id)
	}
	n := 0
	for n < len(s.segs)-1 {
		seg := s.segs[n]
		if seg.lastSeq > minCur || (seg.maxStart != 0 && seg.maxStart >= minOpen) {
			break
		}
		n++
	}
	if n == 0 {
		return
	}
	// The cursors must be on disk before what they passed is deleted.
	for _, c := range s.cursors {
		if c.refs > 0 {
			if err := c.f.Sync(); err != nil {
				s.logger.Warn("syncing an audit cursor; keeping the segments", zap.String("sink", c.name), zap.Error(err))
				return
			}
		}
	}
	for ; n > 0; n-- {
		seg := s.segs[0]
		if err := s.retireLocked(seg); err != nil {
			s.logger.Warn("removing a delivered audit spool segment", zap.String("path", seg.path), zap.Error(err))
			break
		}
		s.total -= seg.size
		s.segs = s.segs[1:]
	}
}
