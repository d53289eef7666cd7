package nodeauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// editableFile is a clients file opened for editing. It keeps every field
// it does not know, in the order written, so `crgate clients` never loses an
// operator's annotations.
type editableFile struct {
	top     []field   // top-level fields, "clients" among them
	clients [][]field // one per client, in order
	mode    fs.FileMode
}

type field struct {
	key   string
	value json.RawMessage
}

func decodeObject(data []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("field %q: %w", key, err)
		}
		if i := slices.IndexFunc(out, func(f field) bool { return f.key == key }); i >= 0 {
			return nil, fmt.Errorf("field %q appears twice", key)
		}
		out = append(out, field{key, v})
	}
	return out, nil
}

func get(fs []field, key string) (json.RawMessage, bool) {
	for _, f := range fs {
		if f.key == key {
			return f.value, true
		}
	}
	return nil, false
}

func set(fs []field, key string, v any) []field {
	raw, err := json.Marshal(v)
	if err != nil {
		// Only strings and string slices are set; they always marshal.
		raw = json.RawMessage(`null`)
	}
	for i := range fs {
		if fs[i].key == key {
			fs[i].value = raw
			return fs
		}
	}
	return append(fs, field{key, raw})
}

// openEditable reads path; a missing file is an empty registry, so the
// first `crgate clients add` creates it.
func openEditable(path string) (*editableFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &editableFile{top: []field{{"clients", json.RawMessage(`[]`)}}, mode: 0o644}, nil
	}
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if _, err := parseClients(data); err != nil {
		return nil, fmt.Errorf("%s is not a valid clients file; fix it first: %w", path, err)
	}
	top, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	ef := &editableFile{top: top, mode: fi.Mode().Perm()}
	raw, _ := get(top, "clients")
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("clients: %w", err)
	}
	for i, c := range list {
		obj, err := decodeObject(c)
		if err != nil {
			return nil, fmt.Errorf("clients[%d]: %w", i, err)
		}
		ef.clients = append(ef.clients, obj)
	}
	return ef, nil
}

func (ef *editableFile) index(id string) int {
	for i, c := range ef.clients {
		raw, _ := get(c, "id")
		var got string
		if json.Unmarshal(raw, &got) == nil && got == id {
			return i
		}
	}
	return -1
}

func (ef *editableFile) stringsField(i int, key string) []string {
	raw, _ := get(ef.clients[i], key)
	var out []string
	_ = json.Unmarshal(raw, &out) // validated on open
	return out
}

func (ef *editableFile) encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("{\n")
	for i, f := range ef.top {
		k, _ := json.Marshal(f.key)
		fmt.Fprintf(&buf, "  %s: ", k)
		if f.key == "clients" {
			writeClients(&buf, ef.clients)
		} else {
			writeIndented(&buf, f.value, "  ")
		}
		if i < len(ef.top)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("}\n")
	// Whatever we write must load; refuse to write anything else.
	if _, err := parseClients(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("refusing to write an invalid clients file: %w", err)
	}
	return buf.Bytes(), nil
}

func writeClients(buf *bytes.Buffer, clients [][]field) {
	if len(clients) == 0 {
		buf.WriteString("[]")
		return
	}
	buf.WriteString("[\n")
	for i, c := range clients {
		buf.WriteString("    {\n")
		for j, f := range c {
			k, _ := json.Marshal(f.key)
			fmt.Fprintf(buf, "      %s: ", k)
			writeIndented(buf, f.value, "      ")
			if j < len(c)-1 {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
		}
		buf.WriteString("    }")
		if i < len(clients)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("  ]")
}

func writeIndented(buf *bytes.Buffer, v json.RawMessage, indent string) {
	var out bytes.Buffer
	if err := json.Indent(&out, v, indent, "  "); err != nil {
		buf.Write(v)
		return
	}
	buf.Write(out.Bytes())
}

// writeAtomic replaces path with data so that readers (the gateway's
// watcher) see the old file or the new one, never a partial write.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable; best effort on filesystems without it
		d.Close()
	}
	return nil
}

// lockDir takes an exclusive lock on the clients file's directory so two
// concurrent `crgate clients` edits cannot lose one another's change.
func lockDir(path string) (unlock func(), err error) {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		d.Close()
		return nil, fmt.Errorf("locking %s: %w", filepath.Dir(path), err)
	}
	return func() {
		_ = syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
		d.Close()
	}, nil
}
