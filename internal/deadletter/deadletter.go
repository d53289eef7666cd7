// Package deadletter keeps the audit events a sink's destination refused
// for good (an event the FHIR server rejects as invalid, a message larger
// than the syslog limit): written to a JSON-lines file (0600, fsynced) so
// that such an event neither blocks the sink's queue forever nor is lost
// silently. An operator reads the file, fixes the cause and replays it.
package deadletter

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Entry is one line of a dead-letter file.
type Entry struct {
	// Time is when the event was dead-lettered.
	Time time.Time `json:"time"`
	// Sink is the sink module's name ("fhir", "syslog") and Target its
	// destination (URL or address), so one file can be told from another.
	Sink   string `json:"sink"`
	Target string `json:"target"`
	// Seq and ID are the event's spool position and AuditEvent id.
	Seq uint64 `json:"seq"`
	ID  string `json:"id"`
	// Reason says why the destination cannot take the event, e.g.
	// "400 Bad Request: AuditEvent.type is required" or "message of 40213
	// octets exceeds max_message_size 32768".
	Reason string `json:"reason"`
	// Event is the AuditEvent JSON exactly as it was offered.
	Event json.RawMessage `json:"event"`
}

// Event is an event's bytes for Entry.Event: the JSON as it is when it is
// JSON, else a JSON string of it, so that the line itself stays valid.
func Event(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

// Writer appends entries to one file. It is safe for concurrent use.
type Writer struct {
	path string
	mu   sync.Mutex
}

// DefaultPath is the dead-letter file of a sink whose config names none:
// under Caddy's data directory, one file per sink kind and destination.
func DefaultPath(sink, key string) string {
	return filepath.Join(caddy.AppDataDir(), "crgate", "audit", "dead-letter", sink+"-"+key+".jsonl")
}

// New returns a Writer for path after checking that the file can be
// created (or opened) for appending with mode 0600, so that a sink whose
// dead-letter file is unusable refuses to start instead of failing when an
// event is first refused.
func New(path string) (*Writer, error) {
	if path == "" {
		return nil, errors.New("dead-letter file: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("dead-letter file: %w", err)
	}
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("dead-letter file: %w", err)
	}
	return &Writer{path: path}, nil
}

// Path is the file's path.
func (w *Writer) Path() string { return w.path }

// Write appends e as one line and syncs it to disk before returning: the
// caller advances the sink's cursor past the event only once it is safe.
func (w *Writer) Write(e Entry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("dead-letter: encoding event %s: %w", e.ID, err)
	}
	line = append(line, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := open(w.path)
	if err != nil {
		return err
	}
	if _, err := f.Write(line); err != nil {
		_ = f.Close()
		return fmt.Errorf("dead-letter file %s: %w", w.path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("dead-letter file %s: %w", w.path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("dead-letter file %s: %w", w.path, err)
	}
	return nil
}

// open opens path for appending, creating it 0600. A file that exists with
// wider permissions is narrowed: it holds audit data.
func open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dead-letter file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("dead-letter file %s: %w", path, err)
	}
	return f, nil
}
