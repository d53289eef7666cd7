//go:build unix

package filesink

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/filelock"
)

// TestWriterLocksActiveFile: while a writer has the file open, a second
// one (another gateway) cannot open it, and after a rotation the new
// active file is the one locked.
func TestWriterLocksActiveFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	set := defaultSettings()
	set.rollSize = 2048
	w := testWriter(t, path, set)
	writeEvents(t, w, events(1, 3))
	if _, err := openWriter(writerConfig{path: path, logger: zap.NewNop()}); !errors.Is(err, filelock.ErrLocked) ||
		!strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("a second writer on the open file: %v, want it refused as in use", err)
	}
	for i := range 30 {
		writeEvents(t, w, events(4+3*i, 3))
	}
	rotated, _ := rotatedFiles(path)
	if len(rotated) == 0 {
		t.Fatal("no rotation")
	}
	for _, p := range append(rotated, path) {
		held, err := filelock.Held(p)
		if err != nil || held != (p == path) {
			t.Fatalf("%s: locked %v (%v); only the active file should be", p, held, err)
		}
	}
	if err := w.Destruct(); err != nil {
		t.Fatal(err)
	}
	if held, _ := filelock.Held(path); held {
		t.Fatal("the file is still locked after the writer closed")
	}
	w2, err := openWriter(writerConfig{path: path, logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("reopening after close: %v", err)
	}
	_ = w2.Destruct()
}

// TestVerifyLiveFile: a last line without its newline is a line being
// written while a gateway holds the file, and truncation once none does.
func TestVerifyLiveFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w := testWriter(t, path, defaultSettings())
	writeEvents(t, w, events(1, 5))
	// The first part of the next line, as a reader can see it mid-write.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"seq":7,"prev":"ab`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	rep, err := Verify([]string{path}, testKey)
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("live file: %v, problems %v", err, rep.Problems)
	}
	if rep.Events != 5 || !strings.Contains(strings.Join(rep.Warnings, "\n"), "still being written") {
		t.Fatalf("live file: %d events, warnings %q", rep.Events, rep.Warnings)
	}

	// The same bytes with no gateway holding the file: truncation.
	filelock.Unlock(w.f)
	rep, err = Verify([]string{path}, testKey)
	if err != nil || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Msg, "truncated") {
		t.Fatalf("stopped file: %v, problems %v", err, rep.Problems)
	}
	_ = w.Destruct()
}
