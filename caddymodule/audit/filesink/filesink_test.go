package filesink

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/testpeer"
)

var testKey = bytes.Repeat([]byte{7}, 32)

func testWriter(t *testing.T, path string, set writerSettings) *writer {
	t.Helper()
	w, err := openWriter(writerConfig{path: path, logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	w.configure(set)
	return w
}

func defaultSettings() writerSettings {
	return writerSettings{rollSize: 100 << 20, rollInterval: time.Hour, key: testKey, cpInterval: time.Hour, cpLines: 4}
}

func events(from, n int) []auditsink.Event {
	var out []auditsink.Event
	for i := from; i < from+n; i++ {
		out = append(out, auditsink.Event{Seq: uint64(i), ID: fmt.Sprint(i),
			JSON: []byte(fmt.Sprintf(`{"resourceType":"AuditEvent","id":"%d","outcome":"0"}`, i))})
	}
	return out
}

func writeEvents(t *testing.T, w *writer, evs []auditsink.Event) {
	t.Helper()
	if n, err := w.write(evs); err != nil || n != len(evs) {
		t.Fatalf("write: %d of %d, %v", n, len(evs), err)
	}
}

func TestWriterFileModeAndChain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	path := filepath.Join(dir, "audit.jsonl")
	w := testWriter(t, path, defaultSettings())
	for i := 1; i <= 10; i += 2 {
		writeEvents(t, w, events(i, 2))
	}
	if err := w.Destruct(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		st, err := os.Stat(p)
		if err != nil || st.Mode() != want {
			t.Fatalf("%s: mode %v, want %v", p, st.Mode(), want)
		}
	}
	rep, err := Verify([]string{path}, testKey)
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
	// 10 events with a checkpoint after every 4, and one at close.
	if rep.Events != 10 || rep.Checkpoints != 3 || rep.Unsealed != 0 || rep.FirstSeq != 1 || rep.LastSeq != 13 {
		t.Fatalf("report %+v", rep)
	}
	// Reopening continues the chain.
	w2 := testWriter(t, path, defaultSettings())
	writeEvents(t, w2, events(11, 3))
	_ = w2.Destruct()
	if rep, err := Verify([]string{path}, testKey); err != nil || len(rep.Problems) != 0 || rep.Events != 13 {
		t.Fatalf("verify after reopening: %v %+v", err, rep)
	}
}

func TestWriterCutsTornLineAndRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	w := testWriter(t, path, defaultSettings())
	writeEvents(t, w, events(1, 3))
	_ = w.Destruct()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":99,"prev":"half a line`)
	f.Close()

	set := defaultSettings()
	set.rollSize = 4096
	w = testWriter(t, path, set)
	for i := 0; i < 40; i++ { // ~100 bytes a line: several rotations
		writeEvents(t, w, events(4+i*3, 3))
	}
	_ = w.Destruct()
	files, _ := filepath.Glob(filepath.Join(dir, "audit*.jsonl"))
	if len(files) < 3 {
		t.Fatalf("%d files, want rotation", len(files))
	}
	for _, f := range files {
		if st, _ := os.Stat(f); st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", f, st.Mode())
		}
	}
	// Given in any order, the files verify as one chain.
	rev := append([]string{}, files...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	rep, err := Verify(rev, testKey)
	if err != nil || len(rep.Problems) != 0 || rep.Events != 123 {
		t.Fatalf("verify rotated files: %v %+v", err, rep)
	}
	// A missing middle file is lines missing.
	rotated, _ := rotatedFiles(path)
	rest := []string{path}
	for i, f := range rotated {
		if i != 1 {
			rest = append(rest, f)
		}
	}
	rep, err = Verify(rest, testKey)
	if err != nil || len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0].Msg, "lines missing") {
		t.Fatalf("verify without a middle file: %v %+v", err, rep)
	}
}

// TestVerifyTamper alters a sealed file in every way an attacker could
// and expects Verify to name the line.
func TestVerifyTamper(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w := testWriter(t, path, defaultSettings())
	for i := 1; i <= 12; i += 2 { // checkpoints at lines 5, 10, 15
		writeEvents(t, w, events(i, 2))
	}
	_ = w.Destruct()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(orig), "\n")
	lines = lines[:len(lines)-1] // after the last newline
	join := func(ls []string) string { return strings.Join(ls, "") }
	replace := func(n int, f func(string) string) string {
		ls := append([]string{}, lines...)
		ls[n-1] = f(ls[n-1])
		return join(ls)
	}
	// rechain recomputes every hash from line n on, as an attacker
	// without the key would after altering line n.
	rechain := func(n int, alter func(string) string) string {
		out := join(lines[:n-1])
		prev := []byte(mustParse(t, lines[n-2]).Hash)
		for i := n - 1; i < len(lines); i++ {
			raw := strings.TrimSuffix(lines[i], "\n")
			if i == n-1 {
				raw = alter(raw)
			}
			l := mustParse(t, raw+"\n")
			kind, payload := l.kindPayload()
			var b []byte
			var h [64]byte
			b, h = appendLine(nil, l.Seq, prev, kind, payload)
			out += string(b)
			prev = h[:]
		}
		return out
	}
	otherKey := bytes.Repeat([]byte{9}, 32)
	cases := []struct {
		name, content string
		key           []byte
		line          int
		msg           string
	}{
		{"fail/altered-event", replace(2, func(s string) string { return strings.Replace(s, `"outcome":"0"`, `"outcome":"8"`, 1) }), testKey, 2, "does not match its hash"},
		{"fail/altered-hash", replace(3, func(s string) string { return strings.Replace(s, `"hash":"`, `"hash":"0`, 1)[:len(s)] + "\n" }), testKey, 3, "altered"},
		{"fail/extra-field", replace(2, func(s string) string { return strings.Replace(s, `{"seq"`, `{"x":1,"seq"`, 1) }), testKey, 2, "canonical form"},
		{"fail/deleted-line", join(append(append([]string{}, lines[:3]...), lines[4:]...)), testKey, 4, "lines missing"},
		{"fail/inserted-line", join(append(append(append([]string{}, lines[:3]...), lines[2]), lines[3:]...)), testKey, 4, "inserted or repeated"},
		{"fail/swapped-lines", join(append(append(append([]string{}, lines[:2]...), lines[3], lines[2]), lines[4:]...)), testKey, 3, ""},
		{"fail/truncated-mid-line", string(orig[:len(orig)-7]), testKey, len(lines), "truncated"},
		{"fail/rechained-without-key", rechain(2, func(s string) string { return strings.Replace(s, `"outcome":"0"`, `"outcome":"8"`, 1) }), testKey, 5, "MAC does not match"},
		{"fail/other-key", join(lines), otherKey, 5, "another key"},
		{"fail/not-json", replace(6, func(string) string { return "garbage\n" }), testKey, 6, "altered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "audit.jsonl")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify([]string{p}, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) == 0 {
				t.Fatalf("no problem found in a tampered file")
			}
			first := rep.Problems[0]
			if first.Line != tc.line || !strings.Contains(first.Msg, tc.msg) || first.File != p {
				t.Fatalf("first problem %s, want line %d ~%q", first, tc.line, tc.msg)
			}
		})
	}
	t.Run("ok/untouched", func(t *testing.T) {
		rep, err := Verify([]string{path}, testKey)
		if err != nil || len(rep.Problems) != 0 {
			t.Fatalf("%v %v", err, rep.Problems)
		}
	})
	t.Run("ok/cut-after-checkpoint-is-a-warning-only", func(t *testing.T) {
		// Whole lines after the last checkpoint can be removed unnoticed;
		// what Verify can say is how much is unsealed.
		p := filepath.Join(t.TempDir(), "audit.jsonl")
		w := testWriter(t, p, defaultSettings())
		writeEvents(t, w, events(1, 4)) // a checkpoint
		writeEvents(t, w, events(5, 2)) // 2 unsealed
		w.mu.Lock()
		w.f.Close()
		w.f = nil
		w.mu.Unlock()
		close(w.stop)
		rep, err := Verify([]string{p}, testKey)
		if err != nil || len(rep.Problems) != 0 || rep.Unsealed != 2 {
			t.Fatalf("%v %+v", err, rep)
		}
	})
}

func mustParse(t *testing.T, line string) *Line {
	t.Helper()
	l, err := ParseLine([]byte(strings.TrimSuffix(line, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"ok/hex", strings.Repeat("ab", 32) + "\n", true},
		{"ok/raw", strings.Repeat("k", 40), true},
		{"fail/short-hex", strings.Repeat("ab", 16), false},
		{"fail/short", "secret", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKey([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys", "cp.key")
	k1, err := loadOrCreateKey(p)
	if err != nil || len(k1) != 32 {
		t.Fatalf("%v %d", err, len(k1))
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", st.Mode())
	}
	k2, err := loadOrCreateKey(p)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatal("the created key does not read back")
	}
}

// TestDeliverKeepsNoEventMemory: events are valid only until Deliver
// returns (the app reuses their memory for the next batch); the file must
// hold every event as it was handed over, whatever happens to that memory
// afterwards.
func TestDeliverKeepsNoEventMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w := testWriter(t, path, defaultSettings())
	defer w.Destruct()
	var batches [][]auditsink.Event
	var want [][]byte
	for b := range 3 {
		var batch []auditsink.Event
		for i := range 5 {
			ev := testpeer.AuditEvent(t, uint64(b*5+i+1), fmt.Sprint("p", i), 0)
			batch = append(batch, ev)
			want = append(want, ev.JSON)
		}
		batches = append(batches, batch)
	}
	testpeer.DeliverBorrowed(t, &Sink{w: w}, batches...)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for _, raw := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		l, err := ParseLine(raw)
		if err != nil {
			t.Fatal(err)
		}
		if l.Event != nil {
			got = append(got, l.Event)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d events in the file, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("event %d in the file:\n%s\nwant\n%s", i, got[i], want[i])
		}
	}
}
