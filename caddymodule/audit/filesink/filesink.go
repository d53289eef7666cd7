// Package filesink is the audit.sinks.file sink: FHIR AuditEvents as JSON
// lines in a file (0600), each line carrying the SHA-256 hash chain of the
// previous one, rotated by size and age with the chain continuing across
// files, and sealed by periodic keyed checkpoints. `crgate audit verify`
// checks such files (Verify).
package filesink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
)

func init() {
	caddy.RegisterModule(Sink{})
}

// Sink is the file sink.
type Sink struct {
	// Path is the active file. Rotated files sit beside it as
	// <name>-<UTC time>.<ext>. The file is created 0600 (its directory
	// 0700 when created); an existing file's chain is continued.
	Path string `json:"path,omitempty"`

	// RollSize rotates the file when it reaches this many bytes (default
	// 100 MiB).
	RollSize int64 `json:"roll_size,omitempty"`

	// RollInterval rotates the file when it is this old (default 24h).
	RollInterval caddy.Duration `json:"roll_interval,omitempty"`

	// CheckpointKey is a file holding the key (at least 32 bytes, raw or
	// hex) for the keyed checkpoints; it is created with 32 random bytes
	// (hex, 0600) when missing. Without it no checkpoints are written, and
	// anyone who can write the audit file can rewrite its tail and
	// recompute the chain undetectably. Keep the key away from the file's
	// readers: whoever has it can forge checkpoints.
	CheckpointKey string `json:"checkpoint_key,omitempty"`

	// CheckpointInterval and CheckpointLines say how often a checkpoint
	// seals the chain: after this long (default 1m) or this many lines
	// (default 1000) since the last one, whichever comes first, and at
	// every rotation and stop. Lines after the last checkpoint are the
	// ones an attacker could rewrite unnoticed.
	CheckpointInterval caddy.Duration `json:"checkpoint_interval,omitempty"`
	CheckpointLines    int            `json:"checkpoint_lines,omitempty"`

	w       *writer
	poolKey string
	logger  *zap.Logger
}

// writers keeps each open file (by path) across config reloads, so the
// old and the new config's delivery never write one file concurrently.
var writers = caddy.NewUsagePool()

// CaddyModule returns the Caddy module information.
func (Sink) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "audit.sinks.file",
		New: func() caddy.Module { return new(Sink) },
	}
}

// Provision opens (or shares) the file and reads where its chain ends.
func (s *Sink) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	if s.Path == "" {
		return errors.New("path: required")
	}
	if s.RollSize == 0 {
		s.RollSize = 100 << 20
	}
	if s.RollInterval == 0 {
		s.RollInterval = caddy.Duration(24 * time.Hour)
	}
	if s.CheckpointInterval == 0 {
		s.CheckpointInterval = caddy.Duration(time.Minute)
	}
	if s.CheckpointLines == 0 {
		s.CheckpointLines = 1000
	}
	if err := s.Validate(); err != nil {
		return err
	}
	path, err := filepath.Abs(s.Path)
	if err != nil {
		return fmt.Errorf("path: %w", err)
	}
	var key []byte
	if s.CheckpointKey != "" {
		if key, err = loadOrCreateKey(s.CheckpointKey); err != nil {
			return fmt.Errorf("checkpoint_key: %w", err)
		}
	} else {
		s.logger.Warn("file sink without checkpoint_key: its hash chain can be recomputed by anyone who can write the file", zap.String("path", path))
	}
	s.poolKey = "crgate.audit.filesink:" + path
	val, loaded, err := writers.LoadOrNew(s.poolKey, func() (caddy.Destructor, error) {
		return openWriter(writerConfig{path: path, logger: s.logger})
	})
	if err != nil {
		return fmt.Errorf("path %s: %w", path, err)
	}
	s.w = val.(*writer)
	// The latest config's settings apply to the shared file.
	s.w.configure(writerSettings{
		rollSize: s.RollSize, rollInterval: time.Duration(s.RollInterval), key: key,
		cpInterval: time.Duration(s.CheckpointInterval), cpLines: s.CheckpointLines,
	})
	_ = loaded
	return nil
}

// Validate checks the configuration's invariants.
func (s *Sink) Validate() error {
	if s.RollSize < 4096 {
		return fmt.Errorf("roll_size: %d bytes is below the 4 KiB minimum", s.RollSize)
	}
	if s.RollInterval < caddy.Duration(time.Second) {
		return errors.New("roll_interval: must be at least 1s")
	}
	if s.CheckpointInterval < caddy.Duration(100*time.Millisecond) {
		return errors.New("checkpoint_interval: must be at least 100ms")
	}
	if s.CheckpointLines < 1 {
		return errors.New("checkpoint_lines: must be positive")
	}
	return nil
}

// Deliver implements auditsink.Sink: it appends the events, fsyncs, and
// reports them delivered.
func (s *Sink) Deliver(ctx context.Context, events []auditsink.Event) (int, error) {
	return s.w.write(events)
}

// Cleanup releases this config's use of the file.
func (s *Sink) Cleanup() error {
	if s.w == nil {
		return nil
	}
	_, err := writers.Delete(s.poolKey)
	return err
}

// loadOrCreateKey reads a checkpoint key, creating a random one (hex,
// 0600) if the file does not exist.
func loadOrCreateKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		return key, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseKey(data)
}

// ParseKey reads a key file's content: hex (64+ digits) or raw bytes, at
// least 32 bytes either way.
func ParseKey(data []byte) ([]byte, error) {
	text := strings.TrimSpace(string(data))
	if k, err := hex.DecodeString(text); err == nil {
		if len(k) < 32 {
			return nil, errors.New("key too short: want at least 64 hex digits (32 bytes)")
		}
		return k, nil
	}
	if len(data) >= 32 {
		return data, nil
	}
	return nil, errors.New("key too short: want at least 32 bytes (or 64 hex digits)")
}

// Interface guards
var (
	_ caddy.Provisioner  = (*Sink)(nil)
	_ caddy.Validator    = (*Sink)(nil)
	_ caddy.CleanerUpper = (*Sink)(nil)
	_ auditsink.Sink     = (*Sink)(nil)
)
