package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/auditrec"
)

func testSpool(t *testing.T, dir string, maxBytes int64) *spool {
	t.Helper()
	s, err := openSpool(spoolConfig{dir: dir, maxBytes: maxBytes, segmentBytes: 64 << 10, logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.close() })
	return s
}

func testRecord(i int) *auditrec.Record {
	return &auditrec.Record{
		Kind: auditrec.KindRequest, ID: fmt.Sprintf("id-%d", i), Time: time.Unix(1700000000, int64(i)).UTC(),
		Method: "GET", URI: fmt.Sprintf("/fhir/Patient?_count=%d", i), Host: "localhost", Proto: "HTTP/2.0",
		RequestID: fmt.Sprintf("rid-%d", i), ClientIP: "127.0.0.1", ClientPort: 40000 + i, Status: 200, BytesOut: 123,
	}
}

// readAll reads every event after `after` with a fresh reader.
func readAll(t *testing.T, s *spool, after uint64) []auditrec.Record {
	t.Helper()
	r := s.newReader()
	defer r.close()
	var out []auditrec.Record
	for {
		evs, err := r.read(nil, 1000, after, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		for _, e := range evs {
			var rec auditrec.Record
			if err := decodeRecord(e.rec, &rec); err != nil {
				t.Fatalf("seq %d: %v", e.seq, err)
			}
			out = append(out, rec)
			after = e.seq
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	rec := testRecord(7)
	rec.FHIR.Valid, rec.FHIR.Code, rec.FHIR.ResourceType = true, "search-type", "Patient"
	rec.RefusalModule, rec.RefusalReason, rec.Status = "node_auth", "node_disabled", auditrec.StatusIncomplete
	rec.Duration, rec.SearchBody = 1234*time.Microsecond, "name=x&birthdate=2000"
	var got auditrec.Record
	if err := decodeRecord(appendRecord(nil, rec), &got); err != nil {
		t.Fatal(err)
	}
	if got != *rec {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, *rec)
	}
	enc := appendRecord(nil, rec)
	for _, cut := range []int{0, 1, len(enc) / 2, len(enc) - 1} {
		if err := decodeRecord(enc[:cut], new(auditrec.Record)); err == nil {
			t.Errorf("a record cut at %d of %d bytes decoded", cut, len(enc))
		}
	}
}

func TestSpoolAppendReadInOrder(t *testing.T) {
	s := testSpool(t, t.TempDir(), 64<<20)
	for i := range 2000 { // > one 64 KiB segment
		// Rotation happens between commits: commit every 100.
		if _, err := s.append(frameEvent, 0, testRecord(i), false, i%100 == 99); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, s, 0)
	if len(got) != 2000 {
		t.Fatalf("read %d events, want 2000", len(got))
	}
	for i, rec := range got {
		if rec != *testRecord(i) {
			t.Fatalf("event %d: %+v", i, rec)
		}
	}
	if len(s.segs) < 3 {
		t.Fatalf("%d segments after 2000 records, want rotation", len(s.segs))
	}
}

// TestSpoolGroupCommit holds the writer inside one commit while 50
// appenders wait for durability: they must all share the next commit.
func TestSpoolGroupCommit(t *testing.T) {
	s := testSpool(t, t.TempDir(), 64<<20)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	first := true
	testHookBeforeWrite = func() {
		if first {
			first = false
			entered <- struct{}{}
			<-release
		}
	}
	t.Cleanup(func() { testHookBeforeWrite = nil })
	commitsBefore := s.commits
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := s.append(frameStart, 0, testRecord(0), false, true); err != nil {
			t.Error(err)
		}
	})
	<-entered
	for i := 1; i <= 50; i++ {
		wg.Go(func() {
			if _, err := s.append(frameStart, 0, testRecord(i), false, true); err != nil {
				t.Error(err)
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.open)
		s.mu.Unlock()
		if n == 51 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d appenders arrived", n)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	s.mu.Lock()
	commits := s.commits - commitsBefore
	s.mu.Unlock()
	if commits != 2 {
		t.Fatalf("51 durable appends took %d commits, want 2 (one held, one shared by 50)", commits)
	}
}

func TestSpoolReopenAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(spoolConfig{dir: dir, maxBytes: 64 << 20, segmentBytes: 16 << 20, logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	// Five complete requests, two in flight (start only), one async event.
	for i := range 5 {
		id, err := s.append(frameStart, 0, testRecord(i), false, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.append(frameEvent, id, testRecord(i), true, false); err != nil {
			t.Fatal(err)
		}
	}
	for i := 5; i < 7; i++ {
		if _, err := s.append(frameStart, 0, testRecord(i), false, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.append(frameEvent, 0, testRecord(7), false, false); err != nil {
		t.Fatal(err)
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	seg := s.segs[len(s.segs)-1].path
	lastSeq := s.nextSeq - 1
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	// A write torn by the crash: half a frame at the end.
	full := appendFrameForTest(testRecord(99))
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(full[:len(full)/2]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sizeTorn, _ := os.Stat(seg)

	s2 := testSpool(t, dir, 64<<20)
	after, _ := os.Stat(seg)
	if after.Size() != sizeTorn.Size()-int64(len(full)/2) {
		t.Fatalf("torn segment is %d bytes, want the torn frame cut (%d)", after.Size(), sizeTorn.Size()-int64(len(full)/2))
	}
	got := readAll(t, s2, 0)
	if len(got) != 8 {
		t.Fatalf("%d events after reopening, want 6 complete + 2 incomplete", len(got))
	}
	incomplete := map[string]bool{}
	for _, rec := range got {
		if rec.Status == auditrec.StatusIncomplete {
			incomplete[rec.ID] = true
		}
	}
	if len(incomplete) != 2 || !incomplete["id-5"] || !incomplete["id-6"] {
		t.Fatalf("incomplete events %v, want id-5 and id-6", incomplete)
	}
	id, err := s2.append(frameEvent, 0, testRecord(8), false, true)
	if err != nil || id <= lastSeq+2 {
		t.Fatalf("next seq %d (err %v): want past %d and the two incomplete events", id, err, lastSeq)
	}
	// Reopening again completes nothing twice.
	if err := s2.close(); err != nil {
		t.Fatal(err)
	}
	s3 := testSpool(t, dir, 64<<20)
	if got := readAll(t, s3, 0); len(got) != 9 {
		t.Fatalf("%d events after a second reopen, want 9", len(got))
	}
}

// appendFrameForTest is a complete event frame as the spool writes it.
func appendFrameForTest(rec *auditrec.Record) []byte {
	s := &spool{maxBytes: 1 << 30, hardBytes: 1 << 30, nextSeq: 1, nextStart: 1, open: map[uint64]struct{}{},
		cur: &batch{done: make(chan struct{})}, kick: make(chan struct{}, 1)}
	_, _, _ = s.appendEncoded(frameEvent, 0, appendRecord(nil, rec), false, false)
	return s.buf
}

func TestSpoolCursorsAndSegmentDeletion(t *testing.T) {
	dir := t.TempDir()
	s := testSpool(t, dir, 64<<20)
	fast, err := s.cursor("fast")
	if err != nil {
		t.Fatal(err)
	}
	slow, err := s.cursor("slow")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.cursor("Bad Name"); err == nil {
		t.Fatal("a cursor name with spaces accepted")
	}
	// A request in flight keeps its start's segment.
	startID, err := s.append(frameStart, 0, testRecord(-1), false, true)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i := range 3000 {
		if last, err = s.append(frameEvent, 0, testRecord(i), false, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	segs := len(s.segs)
	if err := fast.advance(last); err != nil {
		t.Fatal(err)
	}
	s.gc()
	if len(s.segs) != segs {
		t.Fatalf("segments deleted while the slow sink had taken nothing")
	}
	if err := slow.advance(last); err != nil {
		t.Fatal(err)
	}
	s.gc()
	if len(s.segs) != segs {
		t.Fatalf("the segment holding an in-flight start was deleted")
	}
	if _, err := s.append(frameEvent, startID, testRecord(-1), true, false); err != nil {
		t.Fatal(err)
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	s.gc()
	if len(s.segs) >= segs {
		t.Fatalf("%d segments of %d left after every sink passed them", len(s.segs), segs)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "segments", "*.seg"))
	if len(files) != len(s.segs) {
		t.Fatalf("%d segment files on disk, %d known", len(files), len(s.segs))
	}
	// Cursors persist.
	s.release(fast)
	s.release(slow)
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s2 := testSpool(t, dir, 64<<20)
	c, err := s2.cursor("slow")
	if err != nil || c.seq.Load() != last {
		t.Fatalf("reopened cursor at %d (err %v), want %d", c.seq.Load(), err, last)
	}
	if got := readAll(t, s2, c.seq.Load()); len(got) != 1 || got[0].ID != "id--1" {
		t.Fatalf("after the cursor: %d events, want the one completion", len(got))
	}
}

func TestSpoolFullLimits(t *testing.T) {
	s := testSpool(t, t.TempDir(), 256<<10)
	n := 0
	for {
		_, err := s.append(frameStart, 0, testRecord(n), false, false)
		if errors.Is(err, ErrSpoolFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n > 100000 {
			t.Fatal("never full")
		}
	}
	if s.hasRoom() {
		t.Fatal("hasRoom true on a full spool")
	}
	// Completions, alerts and app events still go in, into the reserve.
	if _, err := s.append(frameEvent, 1, testRecord(0), true, true); err != nil {
		t.Fatalf("completion refused by a full spool: %v", err)
	}
	// Until the reserve is gone too.
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		_, err = s.append(frameEvent, 0, testRecord(i), true, false)
	}
	if !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("reserve never exhausted: %v", err)
	}
	_ = s.flush()
	// Segment headers written at rotation are the only overhead allowed.
	if b, _ := s.stats(); b > 256<<10+reserveBytes(256<<10)+int64(len(s.segs))*segHeaderLen {
		t.Fatalf("spool grew to %d bytes, past limit + reserve", b)
	}
}

func TestSpoolLockedDir(t *testing.T) {
	dir := t.TempDir()
	testSpool(t, dir, 64<<20)
	if _, err := openSpool(spoolConfig{dir: dir, maxBytes: 64 << 20, segmentBytes: 1 << 20, logger: zap.NewNop()}); err == nil {
		t.Fatal("a second spool opened on a directory in use")
	}
}
