package filesink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/filelock"
)

type writerConfig struct {
	path   string
	logger *zap.Logger
}

type writerSettings struct {
	rollSize     int64
	rollInterval time.Duration
	key          []byte
	cpInterval   time.Duration
	cpLines      int
}

// writer is one open audit file and its chain state.
type writer struct {
	path   string
	logger *zap.Logger

	mu       sync.Mutex
	set      writerSettings
	f        *os.File
	size     int64
	opened   time.Time
	seq      uint64 // last line's seq
	prev     []byte // last line's hash
	sinceCP  int    // lines since the last checkpoint
	lastCP   time.Time
	buf      []byte
	stop     chan struct{}
	stopped  chan struct{}
	closeErr error
}

// now is the sink's clock; tests replace it.
var now = time.Now

func openWriter(cfg writerConfig) (*writer, error) {
	dir := filepath.Dir(cfg.path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating audit directory: %w", err)
		}
	}
	w := &writer{path: cfg.path, logger: cfg.logger, prev: slices.Clone(genesis), stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := w.open(); err != nil {
		return nil, err
	}
	w.lastCP = now()
	go w.ticker()
	return w, nil
}

// open opens the active file and finds where the chain ends: its last
// line, or the newest rotated file's. A partial last line (a crash during
// a write, never reported delivered) is cut off.
func (w *writer) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening audit file: %w", err)
	}
	if err := lockActive(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("audit file mode: %w", err)
	}
	last, size, err := lastLine(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("reading the end of %s: %w", w.path, err)
	}
	w.f, w.size, w.opened = f, size, now()
	if last == nil {
		rotated, err := rotatedFiles(w.path)
		if err != nil {
			return err
		}
		if len(rotated) > 0 {
			rf, err := os.Open(rotated[len(rotated)-1])
			if err != nil {
				return fmt.Errorf("opening the newest rotated audit file: %w", err)
			}
			last, _, err = lastLine(rf)
			rf.Close()
			if err != nil {
				return fmt.Errorf("reading the end of %s: %w", rotated[len(rotated)-1], err)
			}
		}
	}
	if last != nil {
		l, err := ParseLine(last)
		if err != nil {
			return fmt.Errorf("the last line of the audit chain does not parse (refusing to continue a broken chain; move the file aside): %w", err)
		}
		w.seq, w.prev = l.Seq, []byte(l.Hash)
	}
	return nil
}

// lockActive locks the active file for as long as it is open: a second
// gateway appending its own chain to it, or cutting off the line this one
// is writing as if a crash had torn it, would break the chain; and
// `crgate audit verify` tells from the lock that the file is live, so that
// a last line still being written is not reported as truncation.
func lockActive(f *os.File) error {
	if err := filelock.TryLock(f); err != nil {
		if errors.Is(err, filelock.ErrLocked) {
			return fmt.Errorf("audit file %s is in use by another process (another gateway writing it?): %w", f.Name(), filelock.ErrLocked)
		}
		return err
	}
	return nil
}

// lastLine returns the last complete line of f (without newline) and the
// file's size after cutting a partial line off.
func lastLine(f *os.File) ([]byte, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := st.Size()
	if size == 0 {
		return nil, 0, nil
	}
	// Read backwards in growing chunks until two newlines (or the start).
	for chunk := int64(64 << 10); ; chunk *= 4 {
		from := max(size-chunk, 0)
		buf := make([]byte, size-from)
		if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		end := len(buf)
		if buf[end-1] != '\n' {
			// A torn write: cut back to the last newline.
			nl := bytes.LastIndexByte(buf, '\n')
			if nl < 0 && from > 0 {
				continue
			}
			cut := from + int64(nl+1)
			if err := f.Truncate(cut); err != nil {
				return nil, 0, fmt.Errorf("cutting a partial last line: %w", err)
			}
			if err := f.Sync(); err != nil {
				return nil, 0, err
			}
			size = cut
			if nl < 0 {
				return nil, 0, nil
			}
			buf, end = buf[:nl+1], nl+1
		}
		start := bytes.LastIndexByte(buf[:end-1], '\n')
		if start < 0 && from > 0 {
			continue
		}
		return slices.Clone(buf[start+1 : end-1]), size, nil
	}
}

// rotatedFiles lists the rotated siblings of path, oldest first (their
// names sort by time).
func rotatedFiles(path string) ([]string, error) {
	base, ext := splitExt(path)
	matches, err := filepath.Glob(globEscape(base) + "-*" + globEscape(ext))
	if err != nil {
		return nil, err
	}
	slices.Sort(matches)
	return matches, nil
}

func splitExt(path string) (string, string) {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext), ext
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

func (w *writer) configure(s writerSettings) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.set = s
}

// write appends the events (and checkpoints and rotations as due), then
// fsyncs. On an error nothing of this call stays in the file.
func (w *writer) write(events []auditsink.Event) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return 0, errors.New("audit file closed")
	}
	t := now()
	if w.size >= w.set.rollSize || t.Sub(w.opened) >= w.set.rollInterval {
		if err := w.rotate(t); err != nil {
			return 0, err
		}
	}
	seq, prev, since := w.seq, w.prev, w.sinceCP
	buf := w.buf[:0]
	var hash [64]byte
	for _, ev := range events {
		js := ev.JSON
		if bytes.IndexByte(js, '\n') >= 0 {
			var c bytes.Buffer
			if err := json.Compact(&c, js); err != nil {
				return 0, fmt.Errorf("event %s: %w", ev.ID, err)
			}
			js = c.Bytes()
		}
		seq++
		buf, hash = appendLine(buf, seq, prev, "event", js)
		prev = hash[:]
		since++
	}
	cp := false
	if w.set.key != nil && since > 0 && (since >= w.set.cpLines || t.Sub(w.lastCP) >= w.set.cpInterval) {
		seq++
		buf, hash = appendLine(buf, seq, prev, "checkpoint", checkpointPayload(w.set.key, seq, t, prev))
		prev = hash[:]
		cp = true
	}
	if err := w.commit(buf); err != nil {
		w.buf = buf
		return 0, err
	}
	w.buf = buf
	w.seq, w.prev, w.sinceCP = seq, slices.Clone(prev), since
	if cp {
		w.sinceCP, w.lastCP = 0, t
	}
	return len(events), nil
}

// commit writes and fsyncs buf, or leaves the file as it was.
func (w *writer) commit(buf []byte) error {
	_, err := w.f.Write(buf)
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		if terr := w.f.Truncate(w.size); terr != nil {
			w.logger.Error("audit file: cannot undo a failed write", zap.String("path", w.path), zap.Error(terr))
		}
		return fmt.Errorf("writing %s: %w", w.path, err)
	}
	w.size += int64(len(buf))
	return nil
}

// checkpointLocked seals the chain if lines were written since the last
// checkpoint.
func (w *writer) checkpointLocked(t time.Time) error {
	if w.set.key == nil || w.sinceCP == 0 || w.f == nil {
		return nil
	}
	seq := w.seq + 1
	buf, hash := appendLine(w.buf[:0], seq, w.prev, "checkpoint", checkpointPayload(w.set.key, seq, t, w.prev))
	w.buf = buf
	if err := w.commit(buf); err != nil {
		return err
	}
	w.seq, w.prev, w.sinceCP, w.lastCP = seq, slices.Clone(hash[:]), 0, t
	return nil
}

// rotate seals the active file, renames it aside and starts a new one
// whose first line links to the old file's last.
func (w *writer) rotate(t time.Time) error {
	if w.size == 0 {
		w.opened = t
		return nil
	}
	if err := w.checkpointLocked(t); err != nil {
		return err
	}
	base, ext := splitExt(w.path)
	name := base + "-" + t.UTC().Format("20060102T150405.000000000Z") + ext
	if err := w.f.Close(); err != nil {
		w.logger.Warn("closing the audit file", zap.Error(err))
	}
	w.f = nil
	if err := os.Rename(w.path, name); err != nil {
		return fmt.Errorf("rotating %s: %w", w.path, err)
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_EXCL|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("rotating %s: %w", w.path, err)
	}
	if err := lockActive(f); err != nil {
		f.Close()
		return fmt.Errorf("rotating: %w", err)
	}
	d, err := os.Open(filepath.Dir(w.path))
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		w.logger.Warn("syncing the audit directory after rotation", zap.Error(err))
	}
	w.f, w.size, w.opened = f, 0, t
	w.logger.Info("audit file rotated", zap.String("path", w.path), zap.String("rotated_to", name))
	return nil
}

// ticker writes a checkpoint when lines have waited a checkpoint interval
// without one, so the unsealed tail is bounded in time too.
func (w *writer) ticker() {
	defer close(w.stopped)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			n := now()
			if w.sinceCP > 0 && n.Sub(w.lastCP) >= w.set.cpInterval {
				if err := w.checkpointLocked(n); err != nil {
					w.logger.Error("writing an audit checkpoint", zap.Error(err))
				}
			}
			w.mu.Unlock()
		}
	}
}

// Destruct implements caddy.Destructor: seal and close the file when the
// last config using it is unloaded.
func (w *writer) Destruct() error {
	close(w.stop)
	<-w.stopped
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.checkpointLocked(now())
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}
