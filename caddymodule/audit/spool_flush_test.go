package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/auditrec"
)

func lingeringSpool(t *testing.T, every time.Duration) *spool {
	t.Helper()
	s, err := openSpool(spoolConfig{dir: filepath.Join(t.TempDir(), "spool"), maxBytes: 64 << 20, segmentBytes: 16 << 20,
		flushInterval: every, logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.close() })
	return s
}

// waitWritten polls (bounded) until the spool has written and fsynced
// event seq, and fails the test if it never does.
func waitWritten(t *testing.T, s *spool, seq uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, written := s.stats(); written >= seq {
			return
		}
		if time.Now().After(deadline) {
			_, written := s.stats()
			t.Fatalf("event %d not committed after %s (written %d)", seq, within, written)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func commits(s *spool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commits
}

// Records nobody waits for (async requests, completions) linger in memory
// and share one write and fsync, instead of one each.
func TestSpoolUnwaitedAppendsLinger(t *testing.T) {
	s := lingeringSpool(t, time.Hour)
	base := commits(s)
	var last uint64
	for i := range 200 {
		id, err := s.append(frameEvent, 0, testRecord(i), false, false)
		if err != nil {
			t.Fatal(err)
		}
		last = id
	}
	time.Sleep(50 * time.Millisecond) // give a wrongly eager writer time to commit
	if got := commits(s) - base; got != 0 {
		t.Fatalf("%d commits for appends nobody waits for, within an hour's flush interval; want 0", got)
	}
	if _, written := s.stats(); written >= last {
		t.Fatalf("written %d before any commit", written)
	}
	if got := len(readAll(t, s, 0)); got != 0 {
		t.Fatalf("a reader saw %d uncommitted events", got)
	}

	// A waiting append (a sync start) commits at once, and takes the
	// lingering frames with it in the same fsync.
	if _, err := s.append(frameStart, 0, testRecord(999), false, true); err != nil {
		t.Fatal(err)
	}
	if got := commits(s) - base; got != 1 {
		t.Fatalf("%d commits after one waiting append; want 1", got)
	}
	if _, written := s.stats(); written != last {
		t.Fatalf("written %d after the waiting append; want %d", written, last)
	}
	if got := len(readAll(t, s, 0)); got != 200 {
		t.Fatalf("read %d events after the commit; want 200", got)
	}
}

// The flush interval bounds how long an unwaited record stays in memory:
// it is committed without anyone asking.
func TestSpoolFlushIntervalBound(t *testing.T) {
	s := lingeringSpool(t, 20*time.Millisecond)
	for round := range 3 {
		id, err := s.append(frameEvent, 0, testRecord(round), false, false)
		if err != nil {
			t.Fatal(err)
		}
		// 20ms is the promise; the bound leaves room for a loaded machine.
		waitWritten(t, s, id, 5*time.Second)
	}
	if got := len(readAll(t, s, 0)); got != 3 {
		t.Fatalf("read %d events; want 3", got)
	}
}

// More than lingerBytes waiting is committed at once, whatever the
// interval, so a burst cannot pile up in memory.
func TestSpoolLingerBytesBound(t *testing.T) {
	s := lingeringSpool(t, time.Hour)
	rec := testRecord(1)
	rec.URI = "/fhir/Patient?name=" + strings.Repeat("x", 4000)
	var last uint64
	for i := 0; i*4000 < 2*lingerBytes; i++ {
		id, err := s.append(frameEvent, 0, rec, false, false)
		if err != nil {
			t.Fatal(err)
		}
		last = id
	}
	// At least the first MiB is committed without a waiter.
	waitWritten(t, s, last/2, 5*time.Second)
}

// Closing the spool commits what lingers.
func TestSpoolCloseCommitsLingering(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s, err := openSpool(spoolConfig{dir: dir, maxBytes: 64 << 20, segmentBytes: 16 << 20, flushInterval: time.Hour, logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := s.append(frameEvent, 0, testRecord(i), false, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s2 := testSpool(t, dir, 64<<20)
	if got := len(readAll(t, s2, 0)); got != 10 {
		t.Fatalf("after close and reopen: %d events; want 10", got)
	}
}

// What lingers is handed to the OS at once and only its fsync waits: a
// killed process (the spool's files as they are, the writer gone) loses
// none of it. The copy of the directory stands for what a restart after
// kill -9 finds.
func TestSpoolLingeringRecordsSurviveProcessKill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s, err := openSpool(spoolConfig{dir: dir, maxBytes: 64 << 20, segmentBytes: 16 << 20, flushInterval: time.Hour, logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.close() })
	base := commits(s)
	// A sync request's start (durable at once), its completion and three
	// async records (lingering).
	id, err := s.append(frameStart, 0, testRecord(0), false, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.append(frameEvent, id, testRecord(0), true, false); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := s.append(frameEvent, 0, testRecord(i), false, false); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	seg := s.segs[len(s.segs)-1].path
	s.mu.Unlock()
	// Written to the OS: the writer's own count, as the segment file is
	// pre-zeroed to its full size (spool_recycle.go).
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		lingering, written := len(s.buf), s.bufWritten
		s.mu.Unlock()
		if lingering > 0 && written == lingering {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lingering frames not written to the OS after 5s (%d of %d bytes)", written, lingering)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if got := commits(s) - base; got != 1 {
		t.Fatalf("%d commits; want only the start's (the rest lingers unsynced)", got)
	}

	crashed := filepath.Join(t.TempDir(), "crashed")
	for _, sub := range []string{"segments", "cursors"} {
		if err := os.MkdirAll(filepath.Join(crashed, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(crashed, "segments", filepath.Base(seg)), data, 0o600); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, testSpool(t, crashed, 64<<20), 0)
	if len(recs) != 4 {
		t.Fatalf("after the kill: %d events; want 4 (the completed request and three async records)", len(recs))
	}
	for _, r := range recs {
		if r.Status == auditrec.StatusIncomplete {
			t.Errorf("%s recovered as incomplete: its completion was written before the kill", r.ID)
		}
	}
}
