package filesink

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The file format: JSON lines, each one of
//
//	{"seq":N,"prev":"<hex>","hash":"<hex>","event":<AuditEvent JSON>}
//	{"seq":N,"prev":"<hex>","hash":"<hex>","checkpoint":{"time":"…","key_id":"…","mac":"<hex>"}}
//
// written byte for byte in that form. seq counts lines from 1 across
// rotated files; prev is the previous line's hash (64 zeros before the
// first line ever); hash is SHA-256 over a domain tag, seq, prev, the
// payload's name and the payload's exact bytes. A line cannot be altered,
// removed or inserted without breaking the next line's prev, but anyone
// who can write the file can recompute every hash after the change. The
// checkpoint lines stop that: their mac is an HMAC-SHA-256, under a key
// the writer keeps, of the checkpoint's seq, time and prev — that is, of
// the whole chain before it — so the chain up to the last checkpoint
// cannot be rewritten without the key.

// genesis is the prev of the first line ever written.
var genesis = bytes.Repeat([]byte{'0'}, 64)

const (
	hashTag = "crgate-audit-chain-v1\n"
	macTag  = "crgate-audit-checkpoint-v1\n"
)

// Line is one parsed line.
type Line struct {
	Seq        uint64          `json:"seq"`
	Prev       string          `json:"prev"`
	Hash       string          `json:"hash"`
	Event      json.RawMessage `json:"event,omitempty"`
	Checkpoint json.RawMessage `json:"checkpoint,omitempty"`
}

// Checkpoint is a checkpoint line's payload.
type Checkpoint struct {
	Time  string `json:"time"`
	KeyID string `json:"key_id"`
	MAC   string `json:"mac"`
}

// lineHash is a line's hash over its seq, prev and payload.
func lineHash(seq uint64, prev []byte, kind string, payload []byte) [64]byte {
	h := sha256.New()
	h.Write([]byte(hashTag))
	var num [20]byte
	h.Write(strconv.AppendUint(num[:0], seq, 10))
	h.Write([]byte{'\n'})
	h.Write(prev)
	h.Write([]byte{'\n'})
	h.Write([]byte(kind))
	h.Write([]byte{'\n'})
	h.Write(payload)
	var sum [sha256.Size]byte
	var out [64]byte
	hex.Encode(out[:], h.Sum(sum[:0]))
	return out
}

// appendLine appends a complete line (with its newline) and returns its
// hash.
func appendLine(b []byte, seq uint64, prev []byte, kind string, payload []byte) ([]byte, [64]byte) {
	hash := lineHash(seq, prev, kind, payload)
	return formatLine(b, seq, prev, hash[:], kind, payload), hash
}

// formatLine appends a line in the canonical form, with its newline.
func formatLine(b []byte, seq uint64, prev, hash []byte, kind string, payload []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"prev":"`...)
	b = append(b, prev...)
	b = append(b, `","hash":"`...)
	b = append(b, hash[:]...)
	b = append(b, `","`...)
	b = append(b, kind...)
	b = append(b, `":`...)
	b = append(b, payload...)
	b = append(b, "}\n"...)
	return b
}

// checkpointMAC is the keyed MAC a checkpoint carries.
func checkpointMAC(key []byte, seq uint64, t string, prev []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(macTag))
	m.Write([]byte(strconv.FormatUint(seq, 10)))
	m.Write([]byte{'\n'})
	m.Write([]byte(t))
	m.Write([]byte{'\n'})
	m.Write(prev)
	return hex.EncodeToString(m.Sum(nil))
}

// KeyID names a checkpoint key without revealing it.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("crgate-audit-key-id\n"), key...))
	return hex.EncodeToString(sum[:8])
}

// checkpointPayload builds a checkpoint line's payload.
func checkpointPayload(key []byte, seq uint64, t time.Time, prev []byte) []byte {
	ts := t.UTC().Format(time.RFC3339Nano)
	cp := Checkpoint{Time: ts, KeyID: KeyID(key), MAC: checkpointMAC(key, seq, ts, prev)}
	b, _ := json.Marshal(cp) // plain strings: cannot fail
	return b
}

var errLineForm = errors.New("not a line of the crgate audit format")

// ParseLine parses one line (without its newline) and checks that it is
// exactly in the form the writer writes, so no byte of it can change
// unnoticed: an added field or space is an alteration too.
func ParseLine(raw []byte) (*Line, error) {
	var l Line
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("%w: %v", errLineForm, err)
	}
	kind, payload := "event", []byte(l.Event)
	if l.Checkpoint != nil {
		if l.Event != nil {
			return nil, errLineForm
		}
		kind, payload = "checkpoint", l.Checkpoint
	}
	if len(payload) == 0 || len(l.Prev) != 64 || len(l.Hash) != 64 {
		return nil, errLineForm
	}
	want := formatLine(nil, l.Seq, []byte(l.Prev), []byte(l.Hash), kind, payload)
	if !bytes.Equal(want[:len(want)-1], raw) {
		return nil, fmt.Errorf("%w: not written in the canonical form (extra fields, spaces or reordering)", errLineForm)
	}
	return &l, nil
}

// kindPayload returns the line's payload name and bytes.
func (l *Line) kindPayload() (string, []byte) {
	if l.Checkpoint != nil {
		return "checkpoint", l.Checkpoint
	}
	return "event", l.Event
}

// validHash reports whether the line's hash is its content's.
func (l *Line) validHash() bool {
	kind, payload := l.kindPayload()
	h := lineHash(l.Seq, []byte(l.Prev), kind, payload)
	return hmac.Equal(h[:], []byte(l.Hash))
}
