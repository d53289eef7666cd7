package filesink

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/crgate/crgate/internal/filelock"
)

// Problem is one place where a chain is broken.
type Problem struct {
	File string
	Line int // 1-based; 0 for a problem with the file as a whole
	Msg  string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
}

// Report is what Verify found.
type Report struct {
	Files       int
	Events      int
	Checkpoints int
	FirstSeq    uint64
	LastSeq     uint64
	// Unsealed is how many lines follow the last checkpoint: lines that
	// someone able to write the file could rewrite unnoticed.
	Unsealed int
	Problems []Problem
	Warnings []string
}

// maxProblems bounds the report; the first problem is what matters.
const maxProblems = 100

// Verify checks audit files written by the file sink: each line in the
// canonical form, each hash its line's, each prev the previous line's
// hash, seqs without gaps (across files, which it orders by their first
// seq), no partial last line (unless a running gateway holds the active
// file's lock: the line is being written), rotated files ending with
// their sealing checkpoint, and — when key is given — every checkpoint's MAC.
func Verify(files []string, key []byte) (*Report, error) {
	type fileStart struct {
		path string
		seq  uint64
	}
	var order []fileStart
	for _, p := range files {
		seq, err := firstSeq(p)
		if err != nil {
			return nil, err
		}
		order = append(order, fileStart{p, seq})
	}
	slices.SortStableFunc(order, func(a, b fileStart) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	v := &verifier{key: key, rep: &Report{Files: len(files)}}
	for i, f := range order {
		if err := v.file(f.path, i == len(order)-1); err != nil {
			return nil, err
		}
	}
	if v.rep.Checkpoints > 0 && key == nil {
		v.rep.Warnings = append(v.rep.Warnings, "checkpoint MACs not checked: no key given (--key)")
	}
	if key != nil && v.rep.Checkpoints == 0 && v.rep.Events > 0 {
		v.rep.Warnings = append(v.rep.Warnings, "no checkpoint in the files: nothing is sealed by the key")
	}
	if v.rep.Unsealed > 0 && v.rep.Checkpoints > 0 {
		v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("%d line(s) after the last checkpoint are not sealed yet", v.rep.Unsealed))
	}
	return v.rep, nil
}

// firstSeq reads a file's first line's seq (0 if none parses).
func firstSeq(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 64<<10).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	var l struct{ Seq uint64 }
	_ = json.Unmarshal(bytes.TrimSuffix(line, []byte{'\n'}), &l)
	return l.Seq, nil
}

type verifier struct {
	key     []byte
	rep     *Report
	started bool
	seq     uint64 // last seq seen
	prev    string // last hash seen
	lastWas string // the last line's kind
}

func (v *verifier) problem(file string, line int, format string, args ...any) {
	if len(v.rep.Problems) < maxProblems {
		v.rep.Problems = append(v.rep.Problems, Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
}

func (v *verifier) file(path string, last bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	n := 0
	v.lastWas = ""
	for {
		raw, err := r.ReadBytes('\n')
		if len(raw) == 0 && errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		n++
		if raw[len(raw)-1] != '\n' {
			if held, _ := filelock.Held(path); last && held {
				// A running gateway is appending: the line was read
				// before its write ended.
				v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("%s:%d: a running gateway is writing this file; the line was still being written and is not checked", path, n))
			} else {
				v.problem(path, n, "truncated: the last line is incomplete (no newline)")
			}
			break
		}
		v.line(path, n, raw[:len(raw)-1])
	}
	if n == 0 {
		return nil
	}
	if !last && v.rep.Checkpoints > 0 && v.lastWas != "checkpoint" {
		v.problem(path, n, "truncated: a rotated file must end with its sealing checkpoint")
	}
	return nil
}

func (v *verifier) line(path string, n int, raw []byte) {
	l, err := ParseLine(raw)
	if err != nil {
		v.problem(path, n, "altered: %v", err)
		// Resynchronise on what the line claims, to report later problems.
		var claim struct {
			Seq  uint64
			Hash string
		}
		if json.Unmarshal(raw, &claim) == nil {
			v.seq, v.prev, v.started = claim.Seq, claim.Hash, true
		}
		return
	}
	switch {
	case !v.started:
		v.rep.FirstSeq = l.Seq
		if l.Seq == 1 && l.Prev != string(genesis) {
			v.problem(path, n, "chain broken: the first line's prev is not the genesis value")
		} else if l.Seq != 1 {
			v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("%s: the chain starts at seq %d: earlier lines are not among the files given, so the link to them is not checked", path, l.Seq))
		}
	case l.Seq != v.seq+1:
		if l.Seq > v.seq+1 {
			v.problem(path, n, "lines missing: seq %d follows %d (%d line(s) deleted)", l.Seq, v.seq, l.Seq-v.seq-1)
		} else {
			v.problem(path, n, "line inserted or repeated: seq %d follows %d", l.Seq, v.seq)
		}
	case l.Prev != v.prev:
		v.problem(path, n, "chain broken: prev does not match the hash of the line before (that line was altered, or lines were removed or inserted)")
	}
	if !l.validHash() {
		v.problem(path, n, "altered: the line's content does not match its hash")
	}
	v.started = true
	v.seq, v.prev = l.Seq, l.Hash
	v.rep.LastSeq = l.Seq
	if l.Checkpoint != nil {
		v.rep.Checkpoints++
		v.rep.Unsealed = 0
		v.lastWas = "checkpoint"
		var cp Checkpoint
		if err := json.Unmarshal(l.Checkpoint, &cp); err != nil {
			v.problem(path, n, "bad checkpoint: %v", err)
			return
		}
		if v.key != nil {
			if cp.KeyID != KeyID(v.key) {
				v.problem(path, n, "bad checkpoint: made with another key (key_id %s, ours %s)", cp.KeyID, KeyID(v.key))
			} else if !hmac.Equal([]byte(cp.MAC), []byte(checkpointMAC(v.key, l.Seq, cp.Time, []byte(l.Prev)))) {
				v.problem(path, n, "bad checkpoint: the MAC does not match (the chain before it was rewritten)")
			}
		}
		return
	}
	v.lastWas = "event"
	v.rep.Events++
	v.rep.Unsealed++
}
