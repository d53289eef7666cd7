package audit

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crgate/crgate/internal/auditrec"
)

// fillSpool appends n requests as durability sync records them (a start,
// then its completion) and returns the last event seq.
func fillSpool(t *testing.T, s *spool, from, n int) uint64 {
	t.Helper()
	var last uint64
	for i := from; i < from+n; i++ {
		startID, err := s.append(frameStart, 0, testRecord(i), false, false)
		if err != nil {
			t.Fatal(err)
		}
		if last, err = s.append(frameEvent, startID, testRecord(i), true, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	return last
}

// spoolOfSegments opens a spool in dir with a sink's cursor and fills it
// with requests 0..n-1 over at least three 64 KiB segments (how many
// frames a batch, and so a segment, takes depends on timing).
func spoolOfSegments(t *testing.T, dir string) (s *spool, c *cursor, last uint64, n int) {
	t.Helper()
	s = testSpool(t, dir, 64<<20)
	c, err := s.cursor("file")
	if err != nil {
		t.Fatal(err)
	}
	for ; len(s.segs) < 3 && n < 100000; n += 100 {
		last = fillSpool(t, s, n, 100)
	}
	return s, c, last, n
}

// copyDir copies the spool's files as a crash would leave them: whole,
// old frames after a recycled segment's data included.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func wantIDs(t *testing.T, what string, got []auditrec.Record, from, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%s: %d events, want %d", what, len(got), n)
	}
	for i, r := range got {
		if want := testRecord(from + i).ID; r.ID != want || r.Status == auditrec.StatusIncomplete {
			t.Fatalf("%s: event %d is %s (status %d), want %s complete", what, i, r.ID, r.Status, want)
		}
	}
}

// TestSpoolRecyclesDeliveredSegment: a delivered segment's file becomes a
// later segment; its old frames after the new ones are neither read back
// nor taken for requests in flight, after a crash as after a clean stop.
func TestSpoolRecyclesDeliveredSegment(t *testing.T) {
	dir := t.TempDir()
	s, c, last, n := spoolOfSegments(t, dir)
	first, err := os.Stat(s.segs[0].path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.advance(last); err != nil {
		t.Fatal(err)
	}
	s.gc()
	spare, err := os.Stat(sparePath(dir))
	if err != nil || !os.SameFile(first, spare) {
		t.Fatalf("the first delivered segment was not kept as the spare: %v", err)
	}
	// Until the spool writes into the spare's file, and a little further.
	added := 0
	for ; added < 3000; added += 10 {
		fillSpool(t, s, n+added, 10)
		if st, err := os.Stat(s.segs[len(s.segs)-1].path); err == nil && os.SameFile(st, first) {
			break
		}
	}
	fillSpool(t, s, n+added+10, 20)
	added += 30
	active := s.segs[len(s.segs)-1]
	st, err := os.Stat(active.path)
	if err != nil || !os.SameFile(st, first) {
		t.Fatalf("the active segment does not reuse the spare's file (%v)", err)
	}
	if st.Size() <= active.size {
		t.Fatalf("the recycled segment holds %d bytes of frames in a %d-byte file: no old frames left to skip", active.size, st.Size())
	}

	// A crash now: the files as they are, old frames and all.
	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	_ = os.Remove(filepath.Join(crashed, "lock"))
	s2 := testSpool(t, crashed, 64<<20)
	wantIDs(t, "after a crash", readAll(t, s2, last), n, added)

	// A clean stop and start.
	s.release(c)
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s3, err := openSpool(spoolConfig{dir: dir, maxBytes: 64 << 20, segmentBytes: 64 << 10, logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.close()
	wantIDs(t, "after a clean stop", readAll(t, s3, last), n, added)
}

// TestSpoolReaderKeepsItsSegment: a segment file a reader has open is
// deleted, never recycled: frames written into it would show through the
// reader's descriptor.
func TestSpoolReaderKeepsItsSegment(t *testing.T) {
	dir := t.TempDir()
	s, c, last, n := spoolOfSegments(t, dir)
	r := s.newReader()
	defer r.close()
	evs, err := r.read(nil, 10, 0, true)
	if err != nil || len(evs) != 10 {
		t.Fatalf("read: %d events, %v", len(evs), err)
	}
	held, err := r.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.advance(last); err != nil {
		t.Fatal(err)
	}
	s.gc()
	if st, err := os.Stat(sparePath(dir)); err == nil && os.SameFile(st, held) {
		t.Fatal("the segment a reader has open was kept for reuse")
	}
	fillSpool(t, s, n, 600)
	// The reader, moved past its deleted segment, reads what follows.
	var got []auditrec.Record
	for {
		evs, err := r.read(nil, 1000, last, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			var rec auditrec.Record
			if err := decodeRecord(e.rec, &rec); err != nil {
				t.Fatal(err)
			}
			got = append(got, rec)
			last = e.seq
		}
	}
	wantIDs(t, "after the reader's segment went", got, n, 600)
}

// frameFor is a frame as the spool writes it: an event with seq, or a
// start with id startID.
func frameFor(kind byte, seq, startID uint64, rec *auditrec.Record) []byte {
	s := &spool{maxBytes: 1 << 30, hardBytes: 1 << 30, nextSeq: seq, nextStart: startID, open: map[uint64]struct{}{},
		cur: &batch{done: make(chan struct{})}, kick: make(chan struct{}, 1)}
	link := uint64(0)
	if kind == frameEvent {
		link = startID
	}
	_, _, _ = s.appendEncoded(kind, link, appendRecord(nil, rec), false, false)
	return s.buf
}

// TestSpoolOldFramesAfterHeader: a segment whose header's bases are above
// the frames that follow it is a recycled file with nothing new written
// yet (a crash right after the rotation): its frames are not read back,
// and no start among them is taken for a request in flight. A segment
// written before bases were bounds (CRGSPL01) is read whole.
func TestSpoolOldFramesAfterHeader(t *testing.T) {
	oldFrames := append(frameFor(frameStart, 1, 40, testRecord(1)), frameFor(frameEvent, 10, 39, testRecord(2))...)
	for _, tc := range []struct {
		magic  string
		events int
	}{{segMagic, 0}, {segMagicV1, 1}} {
		t.Run(tc.magic, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "segments"), 0o700); err != nil {
				t.Fatal(err)
			}
			hdr := append([]byte(tc.magic), make([]byte, 16)...)
			hdr[8], hdr[16] = 100, 50 // base seq 100, base start 50
			if err := os.WriteFile(segmentPath(dir, 7), append(hdr, oldFrames...), 0o600); err != nil {
				t.Fatal(err)
			}
			s := testSpool(t, dir, 64<<20)
			got := readAll(t, s, 0)
			incomplete := 0
			for _, r := range got {
				if r.Status == auditrec.StatusIncomplete {
					incomplete++
				}
			}
			// CRGSPL01: the event, and the start (id 40, completed by
			// nothing: the event completes 39) as incomplete.
			if want := tc.events * 2; len(got) != want || incomplete != tc.events {
				t.Fatalf("%d events (%d incomplete), want %d (%d)", len(got), incomplete, want, tc.events)
			}
		})
	}
}

// TestSpoolPrezeroedSegmentAfterCrash: a new spool's first segment is
// pre-zeroed; after a crash its zeros are where the data ends, not a torn
// or corrupt frame, at the first start after it and at the ones after.
func TestSpoolPrezeroedSegmentAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s := testSpool(t, dir, 64<<20)
	if st, err := os.Stat(s.segs[0].path); err != nil || st.Size() != 64<<10 {
		t.Fatalf("first segment: %v bytes (%v), want pre-zeroed to 64 KiB", st.Size(), err)
	}
	fillSpool(t, s, 0, 50)
	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	_ = os.Remove(filepath.Join(crashed, "lock"))
	for i := range 3 {
		core, logs := observer.New(zap.WarnLevel)
		s2, err := openSpool(spoolConfig{dir: crashed, maxBytes: 64 << 20, segmentBytes: 64 << 10, logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, fmt.Sprintf("start %d after the crash", i+1), readAll(t, s2, 0), 0, 50)
		if err := s2.close(); err != nil {
			t.Fatal(err)
		}
		for _, e := range logs.All() {
			t.Errorf("start %d after the crash logged %s: %s %v", i+1, e.Level, e.Message, e.ContextMap())
		}
	}
}
