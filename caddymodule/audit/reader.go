package audit

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// spooled is one event frame read back from the spool.
type spooled struct {
	seq uint64
	rec []byte // the encoded record, in the reader's slab
}

// reader reads a sink's events from the spool, in order, never past what
// the writer has written (a segment's size is only raised after its bytes
// are written, and written bytes never change).
type reader struct {
	s          *spool
	positioned bool
	segNum     uint64
	f          *os.File
	src        segmentSource // f, bounded by what is written
	openNum    uint64        // the segment f is, counted in spool.reading
	fr         frameReader
	// slab holds the records read, one buffer for a whole batch instead of
	// a copy per record. read reuses it only when told that nothing read
	// before is still in use.
	slab []byte
}

// maxSlab is the largest slab a reader keeps for reuse: a batch of big
// records (long search bodies) must not pin its memory for ever.
const maxSlab = 4 << 20

func (s *spool) newReader() *reader { return &reader{s: s} }

// read appends up to max events with seq > after to out. With reuse, the
// records of earlier reads are no longer in use and their memory is
// reused; without, it is left alone (they stay valid).
func (r *reader) read(out []spooled, max int, after uint64, reuse bool) ([]spooled, error) {
	switch {
	case cap(r.slab) > maxSlab:
		r.slab = nil
	case !reuse:
		r.slab = make([]byte, 0, cap(r.slab))
	default:
		r.slab = r.slab[:0]
	}
	max += len(out)
	for len(out) < max {
		path, limit, next, ok, err := r.locate(after)
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		r.src.limit = limit
		for r.fr.off < limit && len(out) < max {
			kind, seq, _, rec, err := r.fr.next()
			if err != nil {
				return out, fmt.Errorf("reading audit spool segment %s at offset %d: %w", path, r.fr.off, err)
			}
			if kind == frameEvent && seq > after {
				start := len(r.slab)
				r.slab = append(r.slab, rec...)
				// Capped: a later append that moves the slab must not be
				// able to write through this record's slice.
				out = append(out, spooled{seq: seq, rec: r.slab[start:len(r.slab):len(r.slab)]})
			}
		}
		if r.fr.off < limit {
			return out, nil // max reached
		}
		if next == 0 {
			return out, nil // caught up with the writer
		}
		// A finished segment does not grow: go on to the next.
		r.close()
		r.segNum = next
	}
	return out, nil
}

// locate returns the reader's segment (moving past deleted ones), opened,
// how far it is written, and the next segment's number (0 if it is the
// last).
func (r *reader) locate(after uint64) (path string, limit int64, next uint64, ok bool, err error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !r.positioned {
		for i, seg := range s.segs {
			if seg.lastSeq > after || i == len(s.segs)-1 {
				r.segNum, r.positioned = seg.num, true
				break
			}
		}
		if !r.positioned {
			return "", 0, 0, false, nil
		}
	}
	for i, seg := range s.segs {
		if seg.num < r.segNum {
			continue
		}
		if seg.num > r.segNum {
			// Ours was deleted (every sink had passed it).
			r.closeLocked()
			r.segNum = seg.num
		}
		if i+1 < len(s.segs) {
			next = s.segs[i+1].num
		}
		if r.f == nil {
			if err := r.open(seg.path); err != nil {
				return "", 0, 0, false, err
			}
			// While a reader has a segment open its file is not recycled
			// (retireLocked): new frames written into it would show through
			// this descriptor below the limit read here.
			s.reading[seg.num]++
			r.openNum = seg.num
		}
		return seg.path, seg.size, next, true, nil
	}
	return "", 0, 0, false, nil
}

func (r *reader) open(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening audit spool segment: %w", err)
	}
	r.f = f
	r.src = segmentSource{f: f, off: segHeaderLen}
	r.fr = frameReader{r: bufio.NewReaderSize(&r.src, 256<<10), off: segHeaderLen, buf: r.fr.buf}
	return nil
}

// segmentSource reads a segment file up to what the writer has written.
// Past that the file holds zeros or a recycled file's old frames
// (spool_recycle.go) that new frames will overwrite: read ahead into the
// buffer, they would be parsed later in place of the new ones.
type segmentSource struct {
	f          *os.File
	off, limit int64
}

func (s *segmentSource) Read(p []byte) (int, error) {
	if s.off >= s.limit {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.limit-s.off)]
	n, err := s.f.ReadAt(p, s.off)
	s.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *reader) close() {
	r.s.mu.Lock()
	r.closeLocked()
	r.s.mu.Unlock()
}

func (r *reader) closeLocked() {
	if r.f != nil {
		_ = r.f.Close()
		r.f = nil
		if r.s.reading[r.openNum]--; r.s.reading[r.openNum] <= 0 {
			delete(r.s.reading, r.openNum)
		}
	}
}
