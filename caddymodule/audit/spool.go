package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/auditrec"
)

// The spool is the audit pipeline's source of truth: an append-only log of
// records on disk, in segment files, that every sink reads from its own
// durable cursor. A record is accepted once it is in the spool; what a
// sink has not yet taken stays there across sink outages, restarts and
// config reloads.
//
// Layout under the spool directory (0700, files 0600):
//
//	segments/<n>.seg   a header (magic, base seq, base start id) and frames
//	segments/spare     a delivered segment's file, to be the next one
//	                   (spool_recycle.go)
//	cursors/<sink>     the sink's last delivered event seq
//	lock               flock: one process per spool
//
// A frame is [u32 length][u32 CRC-32C of body][body], the body
// [type][seq uvarint][start id uvarint][record]. Two frame types:
//
//   - start: a request's record written before it is forwarded (durability
//     sync); it carries a start id, no seq, and is never delivered itself.
//   - event: a record to deliver, with its event seq (strictly increasing,
//     never reused) and, when it completes a start, that start's id.
//
// A start without its event at open (the gateway stopped while the request
// was in flight) is completed with auditrec.StatusIncomplete.

// ErrSpoolFull is returned when accepting a record would take the spool
// past its size limit.
var ErrSpoolFull = errors.New("audit spool full")

const (
	frameStart = 1
	frameEvent = 2

	frameHeaderLen = 8
	segHeaderLen   = 24
	// segMagic marks a segment whose header's bases are lower bounds of
	// every frame in it (see bufBaseSeq), which is what lets a recycled
	// file's old frames be told apart (spool_recycle.go). Segments written
	// before, segMagicV1, may hold a few frames below their bases and are
	// read as they always were.
	segMagic   = "CRGSPL02"
	segMagicV1 = "CRGSPL01"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segment is one segment file's bookkeeping.
type segment struct {
	num       uint64
	path      string
	size      int64
	baseSeq   uint64 // every event in it has seq ≥ baseSeq
	baseStart uint64
	lastSeq   uint64 // highest event seq written to it, 0 if none
	maxStart  uint64 // highest start id written to it, 0 if none
	recycled  bool   // made from the spare (spool_recycle.go)
}

// batch is one group commit: everything appended while the previous write
// and fsync ran (or, when nobody waits, during the flush interval) shares
// this batch's write and fsync.
type batch struct {
	done chan struct{}
	err  error
	// urgent is set when someone waits for the batch (a sync start, an
	// application event, flush): it is committed at once instead of
	// lingering for the flush interval.
	urgent bool
}

// lingerBytes is how much unwaited-for data the writer buffers before it
// commits without waiting for the flush interval.
const lingerBytes = 1 << 20

type spool struct {
	dir       string
	logger    *zap.Logger
	maxBytes  int64 // limit for new requests' records
	hardBytes int64 // limit for completions, handshakes, app events
	segBytes  int64 // a segment is closed and a new one opened past this
	// flushEvery is how long frames nobody waits for (async requests'
	// events, sync completions, handshake alerts) may stay in memory
	// before they are written and fsynced: the window an async record can
	// be lost in a crash. Zero commits every append at once.
	flushEvery time.Duration

	mu          sync.Mutex
	buf, spare  []byte   // appended frames not yet written
	closedIDs   []uint64 // start ids completed by frames in buf
	spareIDs    []uint64
	bufLastSeq  uint64
	bufMaxStart uint64
	bufSince    time.Time // when the oldest frame in buf was appended
	// bufWritten is how much of buf the writer has already written to the
	// OS, unsynced, while the batch lingers: a killed process loses none
	// of it, only a crash of the machine can.
	bufWritten int
	cur        *batch
	inflight   *batch // the batch being written, nil if none
	nextSeq    uint64
	nextStart  uint64
	open       map[uint64]struct{} // start ids written, not yet completed
	segs       []*segment          // oldest first; the last is being written
	active     *os.File
	// spareFile is a delivered segment's file kept to become the next
	// segment (spareName), "" if none: see recycleSegment.
	spareFile string
	// bufBaseSeq and bufBaseStart were nextSeq and nextStart when s.buf
	// was last swapped out for writing: every frame in s.buf has a seq or
	// start id at least these.
	bufBaseSeq, bufBaseStart uint64
	reading                  map[uint64]int // segment number → readers with its file open
	total                    int64          // bytes on disk plus in buf
	written                  uint64         // highest event seq written to the OS
	notify                   chan struct{}
	err                      error // sticky write error: the spool accepts nothing more
	stopping                 bool
	commits                  int // group commits (write + fsync) done, for tests and stats
	cursors                  map[string]*cursor

	kick    chan struct{}
	stopped chan struct{}
	lock    *os.File
}

// spoolConfig is what opening a spool needs.
type spoolConfig struct {
	dir          string
	maxBytes     int64
	segmentBytes int64
	// flushInterval bounds how long an append nobody waits for stays in
	// memory; zero commits every append at once.
	flushInterval time.Duration
	logger        *zap.Logger
}

// append adds a frame for rec. kind is frameStart or frameEvent; startID
// is the start an event completes (0 if none). hard lets the frame use the
// reserve above maxBytes (completions, handshakes, app events). If wait,
// append returns once the frame is written and fsynced (group commit);
// otherwise the frame is committed within the flush interval.
// It returns the event seq (events) or the start id (starts).
func (s *spool) append(kind byte, startID uint64, rec *auditrec.Record, hard, wait bool) (uint64, error) {
	sc := scratchPool.Get().(*[]byte)
	body := appendRecord((*sc)[:0], rec)
	id, b, err := s.appendEncoded(kind, startID, body, hard, wait)
	*sc = body
	scratchPool.Put(sc)
	if err != nil || !wait {
		return id, err
	}
	<-b.done
	return id, b.err
}

// testHookBeforeWrite, when set by a test, runs in the writer before each
// group commit's write.
var testHookBeforeWrite func()

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (s *spool) appendEncoded(kind byte, startID uint64, rec []byte, hard, urgent bool) (uint64, *batch, error) {
	var hdr [1 + 2*binary.MaxVarintLen64]byte
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return 0, nil, err
	}
	if s.stopping {
		s.mu.Unlock()
		return 0, nil, errors.New("audit spool closed")
	}
	// The body's header is put into a fixed array with PutUvarint, not
	// append, so it stays on the stack: no allocation per record.
	var id uint64
	hdr[0] = kind
	n := 1
	switch kind {
	case frameStart:
		id = s.nextStart
		n += binary.PutUvarint(hdr[n:], 0)
		n += binary.PutUvarint(hdr[n:], id)
	default:
		id = s.nextSeq
		n += binary.PutUvarint(hdr[n:], id)
		n += binary.PutUvarint(hdr[n:], startID)
	}
	h := hdr[:n]
	bodyLen := len(h) + len(rec)
	size := int64(frameHeaderLen + bodyLen)
	limit := s.maxBytes
	if hard {
		limit = s.hardBytes
	}
	if s.total+size > limit {
		s.mu.Unlock()
		return 0, nil, ErrSpoolFull
	}
	if kind == frameStart {
		s.nextStart++
		s.open[id] = struct{}{}
		s.bufMaxStart = id
	} else {
		s.nextSeq++
		s.bufLastSeq = id
		if startID != 0 {
			s.closedIDs = append(s.closedIDs, startID)
		}
	}
	// The writer needs waking when the batch becomes urgent, when its
	// linger starts (the first frame) or when it grew past lingerBytes;
	// otherwise it is already timing the flush interval.
	first := len(s.buf) == 0
	if first {
		s.bufSince = now()
	}
	// Wake the writer when it has written everything so far (it writes
	// what lingers to the OS at once, and starts timing the interval on
	// the first frame), when the batch becomes urgent, or always when
	// nothing lingers.
	wake := len(s.buf) == s.bufWritten || (urgent && !s.cur.urgent) || s.flushEvery <= 0
	if urgent {
		s.cur.urgent = true
	}
	// The CRC is computed over the body once it is in s.buf: hdr handed to
	// crc32 would escape to the heap.
	start := len(s.buf)
	s.buf = binary.LittleEndian.AppendUint32(s.buf, uint32(bodyLen))
	s.buf = append(s.buf, 0, 0, 0, 0)
	s.buf = append(s.buf, h...)
	s.buf = append(s.buf, rec...)
	binary.LittleEndian.PutUint32(s.buf[start+4:], crc32.Checksum(s.buf[start+frameHeaderLen:], castagnoli))
	s.total += size
	if len(s.buf) >= lingerBytes && len(s.buf)-int(size) < lingerBytes {
		wake = true
	}
	b := s.cur
	s.mu.Unlock()
	if wake {
		s.wake()
	}
	return id, b, nil
}

// wake makes the writer look at the buffer.
func (s *spool) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// flush waits until everything appended so far is written and fsynced.
func (s *spool) flush() error {
	s.mu.Lock()
	b := s.cur
	if len(s.buf) == 0 {
		b = s.inflight
	} else {
		b.urgent = true
	}
	s.mu.Unlock()
	if b == nil {
		return nil
	}
	s.wake()
	<-b.done
	return b.err
}

// writer is the group-commit loop: it writes and fsyncs whatever was
// appended while the previous write ran, so concurrent requests share one
// fsync. A batch nobody waits for lingers up to the flush interval (or
// lingerBytes), so async records cost one fsync per interval, not one per
// request.
func (s *spool) writer() {
	defer close(s.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-s.kick:
		case <-timer.C:
		}
		s.mu.Lock()
		if len(s.buf) == 0 {
			stop := s.stopping
			s.mu.Unlock()
			if stop {
				return
			}
			continue
		}
		if !s.cur.urgent && !s.stopping && s.flushEvery > 0 && len(s.buf) < lingerBytes {
			if wait := s.flushEvery - now().Sub(s.bufSince); wait > 0 {
				// Not due: hand what is new to the OS now, fsync later.
				// Appends only add after len(s.buf), and only this
				// goroutine swaps s.buf, so the bytes stay valid unlocked.
				tail, f, off := s.buf[s.bufWritten:], s.active, s.segs[len(s.segs)-1].size+int64(s.bufWritten)
				s.mu.Unlock()
				if len(tail) > 0 {
					n, err := f.WriteAt(tail, off)
					s.mu.Lock()
					s.bufWritten += n
					if err != nil && s.err == nil {
						s.err = fmt.Errorf("writing audit spool segment: %w", err)
						s.logger.Error("audit spool write failed; refusing new records", zap.Error(err))
					}
					// Frames appended during the write did not wake the
					// writer (it had not written everything yet): look
					// again now rather than at the interval's end.
					more := err == nil && len(s.buf) > s.bufWritten
					s.mu.Unlock()
					if more {
						s.wake()
					}
				}
				timer.Reset(wait)
				continue
			}
		}
		buf, closed, b := s.buf, s.closedIDs, s.cur
		skip := s.bufWritten
		s.bufWritten = 0
		lastSeq, maxStart := s.bufLastSeq, s.bufMaxStart
		s.buf, s.closedIDs, s.cur = s.spare[:0], s.spareIDs[:0], &batch{done: make(chan struct{})}
		s.bufBaseSeq, s.bufBaseStart = s.nextSeq, s.nextStart
		s.bufLastSeq, s.bufMaxStart = 0, 0
		s.inflight = b
		seg, f := s.segs[len(s.segs)-1], s.active
		s.mu.Unlock()

		if testHookBeforeWrite != nil {
			testHookBeforeWrite()
		}
		// Frames are written at their offset, not appended: a recycled
		// segment's file is already as long as a segment, so that writing
		// into it changes no block allocation or size, and fdatasync then
		// flushes the data alone, without a journal commit.
		_, err := f.WriteAt(buf[skip:], seg.size+int64(skip))
		if err == nil {
			err = datasync(f)
		}

		s.mu.Lock()
		if err != nil {
			s.err = fmt.Errorf("writing audit spool segment %s: %w", seg.path, err)
			s.logger.Error("audit spool write failed; refusing new records", zap.Error(err))
			b.err = s.err
		}
		seg.size += int64(len(buf))
		s.commits++
		if lastSeq != 0 {
			seg.lastSeq = lastSeq
			s.written = lastSeq
		}
		if maxStart != 0 {
			seg.maxStart = maxStart
		}
		for _, id := range closed {
			delete(s.open, id)
		}
		s.spare, s.spareIDs = buf, closed
		close(s.notify)
		s.notify = make(chan struct{})
		if err == nil && seg.size >= s.segBytes {
			if rerr := s.rotateLocked(); rerr != nil {
				s.err = rerr
				s.logger.Error("audit spool rotation failed; refusing new records", zap.Error(rerr))
			}
		}
		s.inflight = nil
		more, stop := len(s.buf) > 0, s.stopping
		s.mu.Unlock()
		close(b.done)
		if stop && !more {
			return
		}
		if more {
			s.wake()
		}
	}
}

// rotateLocked closes the active segment and starts the next one.
func (s *spool) rotateLocked() error {
	last := s.segs[len(s.segs)-1]
	// A closed segment ends where its frames do: a recycled file's old
	// frames after them are cut off, so that a bad frame in a closed
	// segment is corruption, never the end of the data.
	if err := truncateSegment(s.active, last.size); err != nil {
		return err
	}
	// Frames appended while the batch just written was being written are
	// in s.buf, bound for the new segment, with seqs from bufBaseSeq on.
	seg, f, err := s.newSegmentLocked(last.num+1, s.bufBaseSeq, s.bufBaseStart)
	if err != nil {
		return err
	}
	if err := s.active.Close(); err != nil {
		s.logger.Warn("closing audit spool segment", zap.String("path", last.path), zap.Error(err))
	}
	s.active = f
	s.segs = append(s.segs, seg)
	s.total += seg.size
	return nil
}

// segmentPath is segment n's file name.
func segmentPath(dir string, n uint64) string {
	return filepath.Join(dir, "segments", fmt.Sprintf("%016x.seg", n))
}

// segmentHeader is a segment's header: the magic and its bases.
func segmentHeader(baseSeq, baseStart uint64) []byte {
	hdr := make([]byte, 0, segHeaderLen)
	hdr = append(hdr, segMagic...)
	hdr = binary.LittleEndian.AppendUint64(hdr, baseSeq)
	return binary.LittleEndian.AppendUint64(hdr, baseStart)
}

// createSegment creates segment n with its header, durably.
func createSegment(dir string, n, baseSeq, baseStart uint64) (*segment, *os.File, error) {
	path := segmentPath(dir, n)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("creating audit spool segment: %w", err)
	}
	if _, err := f.Write(segmentHeader(baseSeq, baseStart)); err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("writing audit spool segment header %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &segment{num: n, path: path, size: segHeaderLen, baseSeq: baseSeq, baseStart: baseStart}, f, nil
}

// syncDir makes a directory's entries (a created or removed file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// stats returns the spool's size on disk (plus unwritten bytes) and the
// highest event seq written.
func (s *spool) stats() (bytes int64, written uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total, s.written
}

// waitChan returns a channel closed at the next write.
func (s *spool) waitChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

// close flushes what was appended, stops the writer and releases the
// spool's files.
func (s *spool) close() error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	s.stopping = true
	s.mu.Unlock()
	s.wake()
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if len(s.buf) > 0 {
		errs = append(errs, fmt.Errorf("audit spool closed with %d bytes unwritten", len(s.buf)))
	}
	if s.err == nil && len(s.segs) > 0 {
		// A clean stop leaves no old frames of a recycled file behind the
		// last one, for the next start to take for a torn write.
		if err := truncateSegment(s.active, s.segs[len(s.segs)-1].size); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.active.Close(); err != nil {
		errs = append(errs, err)
	}
	for _, c := range s.cursors {
		if err := c.f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	unlockDir(s.lock)
	return errors.Join(errs...)
}

// Destruct implements caddy.Destructor: the spool is closed when the last
// config using it is unloaded.
func (s *spool) Destruct() error { return s.close() }

// setLimits applies a reloaded config's limits to a shared spool.
func (s *spool) setLimits(maxBytes, segBytes int64, flushEvery time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxBytes, s.hardBytes, s.segBytes = maxBytes, maxBytes+reserveBytes(maxBytes), segBytes
	s.flushEvery = flushEvery
}

// hasRoom reports whether a new request's record would still fit.
func (s *spool) hasRoom() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err == nil && s.total+512 <= s.maxBytes
}
