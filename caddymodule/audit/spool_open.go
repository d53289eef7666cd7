package audit

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/auditrec"
)

// openSpool opens (or creates) the spool in cfg.dir: it scans every
// segment, truncates a torn last frame (a crash during a write), and
// completes every request whose start is there without its event as
// incomplete.
func openSpool(cfg spoolConfig) (*spool, error) {
	for _, d := range []string{cfg.dir, filepath.Join(cfg.dir, "segments"), filepath.Join(cfg.dir, "cursors")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating audit spool directory: %w", err)
		}
	}
	lock, err := lockDir(filepath.Join(cfg.dir, "lock"))
	if err != nil {
		return nil, err
	}
	s := &spool{
		dir:        cfg.dir,
		logger:     cfg.logger,
		maxBytes:   cfg.maxBytes,
		hardBytes:  cfg.maxBytes + reserveBytes(cfg.maxBytes),
		segBytes:   cfg.segmentBytes,
		flushEvery: cfg.flushInterval,
		cur:        &batch{done: make(chan struct{})},
		nextSeq:    1,
		nextStart:  1,
		open:       map[uint64]struct{}{},
		reading:    map[uint64]int{},
		notify:     make(chan struct{}),
		cursors:    map[string]*cursor{},
		kick:       make(chan struct{}, 1),
		stopped:    make(chan struct{}),
		lock:       lock,
	}
	incomplete, err := s.recover()
	if err != nil {
		unlockDir(lock)
		return nil, err
	}
	s.bufBaseSeq, s.bufBaseStart = s.nextSeq, s.nextStart
	go s.writer()
	// Requests that were in flight when the gateway stopped: their events
	// say so. The reserve lets them in even into a full spool.
	for _, st := range incomplete {
		var rec auditrec.Record
		if err := decodeRecord(st.rec, &rec); err != nil {
			continue // recover checked every frame's CRC; cannot happen
		}
		rec.Status = auditrec.StatusIncomplete
		if _, err := s.append(frameEvent, st.id, &rec, true, false); err != nil {
			_ = s.close()
			return nil, fmt.Errorf("completing in-flight audit records: %w", err)
		}
	}
	if err := s.flush(); err != nil {
		_ = s.close()
		return nil, err
	}
	if len(incomplete) > 0 {
		s.logger.Warn("audit records of requests in flight at the last stop delivered as incomplete", zap.Int("count", len(incomplete)))
	}
	return s, nil
}

// reserveBytes is the room above the size limit kept for completions of
// accepted requests, handshake alerts and application events.
func reserveBytes(maxBytes int64) int64 {
	return max(maxBytes/16, 1<<20)
}

type openStart struct {
	id  uint64
	rec []byte
}

// recover scans the segments, restores the counters, and returns the
// starts without events, in order.
func (s *spool) recover() ([]openStart, error) {
	names, err := filepath.Glob(filepath.Join(s.dir, "segments", "*.seg"))
	if err != nil {
		return nil, err
	}
	var nums []uint64
	for _, name := range names {
		n, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), ".seg"), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("audit spool: unexpected file %s", name)
		}
		nums = append(nums, n)
	}
	slices.Sort(nums)
	starts := map[uint64][]byte{}
	for i, n := range nums {
		last := i == len(nums)-1
		seg, err := s.scanSegment(segmentPath(s.dir, n), n, last, func(kind byte, seq, startID uint64, rec []byte) {
			switch kind {
			case frameStart:
				starts[startID] = slices.Clone(rec)
			case frameEvent:
				delete(starts, startID)
			}
		})
		if err != nil {
			return nil, err
		}
		if seg == nil {
			continue // an empty last segment torn in its header: recreated below
		}
		s.segs = append(s.segs, seg)
		s.total += seg.size
		s.nextSeq = max(s.nextSeq, seg.baseSeq, seg.lastSeq+1)
		s.nextStart = max(s.nextStart, seg.baseStart, seg.maxStart+1)
		if seg.lastSeq != 0 {
			s.written = seg.lastSeq
		}
	}
	if n := len(s.segs); n > 0 && s.segs[n-1].baseSeq > 0 {
		s.written = max(s.written, s.segs[n-1].baseSeq-1)
	}
	var num uint64
	if n := len(s.segs); n > 0 {
		num = s.segs[n-1].num + 1
	}
	// Always start a fresh segment: the last one may end in a truncated
	// frame's place, and appending after a scan is simpler to reason about.
	if _, err := os.Stat(sparePath(s.dir)); err == nil {
		s.spareFile = sparePath(s.dir)
	}
	seg, f, err := s.newSegmentLocked(num, s.nextSeq, s.nextStart)
	if err != nil {
		return nil, err
	}
	if !seg.recycled {
		// No delivered segment to reuse yet: give the first one the
		// blocks a recycled file would have (spool_recycle.go).
		if err := prezero(f, min(s.segBytes, maxPrezero)); err != nil {
			f.Close()
			return nil, err
		}
	}
	s.segs = append(s.segs, seg)
	s.total += seg.size
	s.active = f
	var open []openStart
	for id, rec := range starts {
		open = append(open, openStart{id: id, rec: rec})
		s.open[id] = struct{}{}
	}
	slices.SortFunc(open, func(a, b openStart) int { return cmp.Compare(a.id, b.id) })
	return open, nil
}

// scanSegment reads one segment's frames. A bad frame in the last segment
// is a write torn by a crash: the segment is truncated there. A bad frame
// in an older segment is corruption: it is reported and the rest of that
// segment skipped (what it held is lost; the log says so).
func (s *spool) scanSegment(path string, num uint64, last bool, each func(kind byte, seq, startID uint64, rec []byte)) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("opening audit spool segment: %w", err)
	}
	defer f.Close()
	var hdr [segHeaderLen]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || (string(hdr[:8]) != segMagic && string(hdr[:8]) != segMagicV1) {
		if last {
			s.logger.Warn("audit spool: removing a segment torn in its header", zap.String("path", path))
			f.Close()
			if err := os.Remove(path); err != nil {
				return nil, fmt.Errorf("removing torn audit spool segment: %w", err)
			}
			return nil, nil
		}
		return nil, fmt.Errorf("audit spool segment %s: bad header", path)
	}
	seg := &segment{
		num:       num,
		path:      path,
		baseSeq:   binary.LittleEndian.Uint64(hdr[8:16]),
		baseStart: binary.LittleEndian.Uint64(hdr[16:24]),
	}
	boundedBases := string(hdr[:8]) == segMagic
	fr := frameReader{r: bufio.NewReaderSize(f, 64<<10), off: segHeaderLen}
	for {
		frameOff := fr.off
		kind, seq, startID, rec, err := fr.next()
		if errors.Is(err, io.EOF) || (boundedBases && errors.Is(err, errZeroFrame)) {
			break // the end, or where a pre-zeroed segment's data ends
		}
		if err != nil {
			if last {
				s.logger.Warn("audit spool: truncating a frame torn by a crash", zap.String("path", path), zap.Int64("offset", fr.off), zap.Error(err))
				if err := truncateSegment(f, fr.off); err != nil {
					return nil, err
				}
			} else {
				s.logger.Error("audit spool: corrupt segment; records after this offset are lost", zap.String("path", path), zap.Int64("offset", fr.off), zap.Error(err))
			}
			break
		}
		if boundedBases && ((kind == frameEvent && seq < seg.baseSeq) || (kind == frameStart && startID < seg.baseStart)) {
			// A frame from the file's life as an older segment
			// (spool_recycle.go): this segment's data ends here.
			fr.off = frameOff
			if last {
				if err := truncateSegment(f, fr.off); err != nil {
					return nil, err
				}
			}
			break
		}
		if kind == frameEvent {
			seg.lastSeq = seq
		} else {
			seg.maxStart = startID
		}
		each(kind, seq, startID, rec)
	}
	seg.size = fr.off
	return seg, nil
}

// frameReader reads frames from a segment after its header.
type frameReader struct {
	r   *bufio.Reader
	off int64 // offset of the next frame
	buf []byte
}

var (
	errTornFrame = errors.New("torn or corrupt frame")
	// errZeroFrame is a frame header of zeros: the end of the data in a
	// pre-zeroed segment (a torn frame in an older one).
	errZeroFrame = fmt.Errorf("%w: zeros", errTornFrame)
)

// next returns the next frame; io.EOF at a clean end, errTornFrame for a
// partial or corrupt one. rec is valid until the next call.
func (fr *frameReader) next() (kind byte, seq, startID uint64, rec []byte, err error) {
	// Peek, not ReadFull into an array: the array would escape to the
	// heap through io.Reader, one allocation per frame.
	h, err := fr.r.Peek(frameHeaderLen)
	if len(h) == 0 && err == io.EOF {
		return 0, 0, 0, nil, io.EOF
	}
	if len(h) != frameHeaderLen {
		return 0, 0, 0, nil, errTornFrame
	}
	length := binary.LittleEndian.Uint32(h[:4])
	sum := binary.LittleEndian.Uint32(h[4:])
	if length == 0 && sum == 0 {
		return 0, 0, 0, nil, errZeroFrame
	}
	if _, err := fr.r.Discard(frameHeaderLen); err != nil {
		return 0, 0, 0, nil, errTornFrame
	}
	if length < 3 || length > 16<<20 {
		return 0, 0, 0, nil, errTornFrame
	}
	if cap(fr.buf) < int(length) {
		fr.buf = make([]byte, length)
	}
	body := fr.buf[:length]
	if _, err := io.ReadFull(fr.r, body); err != nil {
		return 0, 0, 0, nil, errTornFrame
	}
	if crc32.Checksum(body, castagnoli) != sum {
		return 0, 0, 0, nil, errTornFrame
	}
	d := decoder{b: body}
	kind = d.byte()
	seq = d.uvarint()
	startID = d.uvarint()
	if d.err != nil || (kind != frameStart && kind != frameEvent) {
		return 0, 0, 0, nil, errTornFrame
	}
	fr.off += frameHeaderLen + int64(length)
	return kind, seq, startID, d.b, nil
}
