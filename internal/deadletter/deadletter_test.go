package deadletter

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteAppendsPrivateLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dl.jsonl")
	// A pre-existing world-readable file is narrowed to 0600.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	events := []string{`{"resourceType":"AuditEvent","id":"a"}`, `{"resourceType":"AuditEvent","id":"b","x":"é\n"}`}
	for i, ev := range events {
		if err := w.Write(Entry{Time: time.Unix(0, 0).UTC(), Sink: "fhir", Target: "t", Seq: uint64(i + 1), ID: string(rune('a' + i)), Reason: "r", Event: json.RawMessage(ev)}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", st.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var got []Entry
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, e)
	}
	if len(got) != 2 {
		t.Fatalf("got %d lines, want 2", len(got))
	}
	for i, e := range got {
		var want, have any
		_ = json.Unmarshal([]byte(events[i]), &want)
		_ = json.Unmarshal(e.Event, &have)
		if e.Seq != uint64(i+1) || e.Sink != "fhir" || e.Reason != "r" {
			t.Fatalf("line %d = %+v", i, e)
		}
		wj, _ := json.Marshal(want)
		hj, _ := json.Marshal(have)
		if string(wj) != string(hj) {
			t.Fatalf("line %d event = %s, want %s", i, hj, wj)
		}
	}
}

func TestNewRefusesUnusablePath(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(dir); err == nil { // a directory cannot be appended to
		t.Fatal("New(directory) succeeded")
	}
	if _, err := New(""); err == nil {
		t.Fatal("New(\"\") succeeded")
	}
}
