package audit

import (
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// A delivered segment's file is kept as the spare and becomes the next
// segment, instead of being deleted and a new file grown by appends.
// Writing into blocks a file already has, without changing its size,
// lets the group commit's fdatasync flush the data alone; growing a file
// makes every commit also journal its new blocks and size, which took
// about twice as long on the disk it was measured on (docs/performance.md).
// That wait is what a request under durability sync spends before it is
// forwarded.
//
// A recycled file keeps its old frames after the new ones until they are
// overwritten. Event seqs and start ids only grow, so an old frame is
// older than the segment header's bases: scanSegment takes the first such
// frame (or one cut in half, which fails its CRC) as the end of the data.

// spareName is the spare's file name in the segments directory; it does
// not end in .seg, so a scan never reads it as a segment.
const spareName = "spare"

func sparePath(dir string) string { return filepath.Join(dir, "segments", spareName) }

// newSegmentLocked starts segment n from the spare when there is one,
// else as a new file.
func (s *spool) newSegmentLocked(n, baseSeq, baseStart uint64) (*segment, *os.File, error) {
	if s.spareFile != "" {
		spare := s.spareFile
		s.spareFile = ""
		seg, f, err := recycleSegment(s.dir, spare, n, baseSeq, baseStart)
		if err == nil {
			return seg, f, nil
		}
		s.logger.Warn("audit spool: could not reuse a delivered segment's file; creating a new one", zap.Error(err))
		_ = os.Remove(spare)
	}
	return createSegment(s.dir, n, baseSeq, baseStart)
}

// recycleSegment writes segment n's header over the spare's and renames
// it into place, durably.
func recycleSegment(dir, spare string, n, baseSeq, baseStart uint64) (*segment, *os.File, error) {
	f, err := os.OpenFile(spare, os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, err
	}
	if _, err := f.WriteAt(segmentHeader(baseSeq, baseStart), 0); err == nil {
		err = datasync(f)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("writing the header of a recycled audit spool segment: %w", err)
	}
	path := segmentPath(dir, n)
	if err := os.Rename(spare, path); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("recycling an audit spool segment: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &segment{num: n, path: path, size: segHeaderLen, baseSeq: baseSeq, baseStart: baseStart, recycled: true}, f, nil
}

// maxPrezero bounds what a start writes in zeros: a segment_size of
// gigabytes must not make every start write that much. Past it a segment
// grows by appends, as it did before.
const maxPrezero = 64 << 20

// prezero writes zeros after f's header up to size, durably, so that the
// first segment of a spool with no delivered segment to reuse (a new one,
// or one cleanly stopped, which cuts its files to their data) is written
// into blocks it already has too. A frame header of zeros is where the
// data ends (errZeroFrame).
func prezero(f *os.File, size int64) error {
	zeros := make([]byte, 1<<20)
	for off := int64(segHeaderLen); off < size; {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return fmt.Errorf("preparing an audit spool segment: %w", err)
		}
		off += n
	}
	if err := datasync(f); err != nil {
		return fmt.Errorf("preparing an audit spool segment: %w", err)
	}
	return nil
}

// retireLocked removes a delivered segment's file, or keeps it as the
// spare when there is none.
func (s *spool) retireLocked(seg *segment) error {
	if s.spareFile == "" && s.reading[seg.num] == 0 {
		spare := sparePath(s.dir)
		if err := os.Rename(seg.path, spare); err == nil {
			s.spareFile = spare
			return nil
		}
	}
	return os.Remove(seg.path)
}

// truncateSegment cuts f to size and makes it durable.
func truncateSegment(f *os.File, size int64) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("audit spool segment: %w", err)
	}
	if st.Size() == size {
		return nil
	}
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncating audit spool segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("truncating audit spool segment: %w", err)
	}
	return nil
}
