package nodeauth

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func runEdit(t *testing.T, path string, change func(*editableFile) (string, error)) error {
	t.Helper()
	var out bytes.Buffer
	return edit(path, &out, change)
}

func addNode(id, fp string) func(*editableFile) (string, error) {
	return func(ef *editableFile) (string, error) {
		if ef.index(id) >= 0 {
			return "", fmt.Errorf("node %q exists", id)
		}
		var e []field
		e = set(e, "id", id)
		e = set(e, "name", "Node "+id)
		e = set(e, "fingerprints", []string{fp})
		e = set(e, "scopes", []string{"Patient.read"})
		e = set(e, "status", "active")
		ef.clients = append(ef.clients, e)
		return "added", nil
	}
}

func TestEditKeepsUnknownFieldsAndOrder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "clients.json")
	orig := `{"comment":"managed by ops","clients":[{"status":"active","id":"a","owner":{"team":"hie"},"name":"A","fingerprints":["` + fpA() + `"],"scopes":[]}],"version":3}`
	if err := os.WriteFile(path, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := runEdit(t, path, func(ef *editableFile) (string, error) {
		ef.clients[0] = set(ef.clients[0], "status", "disabled")
		return "", nil
	}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	for _, want := range []string{`"comment": "managed by ops"`, `"team": "hie"`, `"version": 3`, `"status": "disabled"`} {
		if !strings.Contains(got, want) {
			t.Errorf("edited file lost %s:\n%s", want, got)
		}
	}
	if strings.Index(got, `"comment"`) > strings.Index(got, `"clients"`) || strings.Index(got, `"status"`) > strings.Index(got, `"id"`) {
		t.Errorf("field order changed:\n%s", got)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode = %v, %v; want 0640 kept", fi.Mode().Perm(), err)
	}
	if _, err := parseClients(data); err != nil {
		t.Fatalf("edited file does not load: %v", err)
	}
}

func TestEditRefusesInvalidResult(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "clients.json")
	if err := runEdit(t, path, addNode("a", fpA())); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	err := runEdit(t, path, addNode("b", fpA())) // same certificate as a
	if err == nil || !strings.Contains(err.Error(), "refusing to write an invalid clients file") {
		t.Fatalf("err = %v, want refusal", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("file changed although the edit was refused")
	}
}

func TestEditRefusesBrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(path, []byte(`{"clients":[{"id":"a"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runEdit(t, path, addNode("b", fpB()))
	if err == nil || !strings.Contains(err.Error(), "fix it first") {
		t.Fatalf("err = %v, want the broken file named", err)
	}
}

func TestConcurrentEditsLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clients.json")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- runEdit(t, path, addNode(fmt.Sprintf("n%d", i), strings.Repeat(fmt.Sprintf("%02X", i), 32)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	table, err := parseClients(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(table.byID) != n {
		t.Fatalf("%d nodes after %d concurrent adds", len(table.byID), n)
	}
}
