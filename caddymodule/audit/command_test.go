package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/caddymodule/audit/filesink"
	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/balp"
	"github.com/crgate/crgate/internal/fhirreq"
)

// auditFileForTest writes three events through the real builder and file
// sink: alpha's Patient search (200), bravo's read of Patient/p-1 (502),
// and a refused handshake.
func auditFileForTest(t *testing.T) (path, key string) {
	t.Helper()
	dir := t.TempDir()
	path, key = filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "cp.key")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	sink := &filesink.Sink{Path: path, CheckpointKey: key}
	if err := sink.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := balp.NewBuilder(balp.Source{ObserverID: "gw-test"})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	recs := []*auditrec.Record{
		{Kind: auditrec.KindRequest, ID: newUUID(), Time: base, NodeID: "alpha", NodeName: "Node alpha", ClientIP: "127.0.0.1",
			Method: "GET", URI: "/fhir/Patient?family=x", RequestID: "r1", Status: 200, Upstream: "http://127.0.0.1:3000",
			FHIR: fhirreq.Interaction{Valid: true, Code: "search-type", Base: "/fhir", ResourceType: "Patient"}},
		{Kind: auditrec.KindRequest, ID: newUUID(), Time: base.Add(time.Hour), NodeID: "bravo", NodeName: "Node bravo", ClientIP: "127.0.0.2",
			Method: "GET", URI: "/fhir/Patient/p-1", RequestID: "r2", Status: 502, Error: "upstream down", Upstream: "http://127.0.0.1:3000",
			FHIR: fhirreq.Interaction{Valid: true, Code: "read", Base: "/fhir", ResourceType: "Patient", ID: "p-1"}},
		{Kind: auditrec.KindHandshake, ID: newUUID(), Time: base.Add(2 * time.Hour), ClientIP: "127.0.0.3",
			RefusalModule: "tls", RefusalReason: "no_client_certificate"},
	}
	var evs []auditsink.Event
	for i, r := range recs {
		js, err := b.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, auditsink.Event{Seq: uint64(i + 1), ID: r.ID, Recorded: r.Time, JSON: js, Record: r})
	}
	if _, err := sink.Deliver(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := sink.Cleanup(); err != nil {
		t.Fatal(err)
	}
	return path, key
}

func runCmd(t *testing.T, c *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	err := c.Execute()
	return out.String(), err
}

func TestAuditCommands(t *testing.T) {
	path, key := auditFileForTest(t)
	t.Run("ok/verify", func(t *testing.T) {
		out, err := runCmd(t, verifyCmd(), "--key", key, path)
		if err != nil || !strings.Contains(out, "ok: 1 file(s), 3 event(s), 1 checkpoint(s)") {
			t.Fatalf("%v\n%s", err, out)
		}
	})
	t.Run("fail/verify-altered", func(t *testing.T) {
		data, _ := os.ReadFile(path)
		bad := filepath.Join(t.TempDir(), "audit.jsonl")
		os.WriteFile(bad, bytes.Replace(data, []byte(`"127.0.0.2"`), []byte(`"127.0.0.9"`), 1), 0o600)
		out, err := runCmd(t, verifyCmd(), "--key", key, bad)
		if err == nil || !strings.Contains(out, bad+":2: altered") {
			t.Fatalf("%v\n%s", err, out)
		}
	})
	for _, tc := range []struct {
		name  string
		args  []string
		lines int // matching events
		has   string
	}{
		{"ok/all", nil, 3, "alpha"},
		{"ok/node", []string{"--node", "bravo"}, 1, "bravo"},
		{"ok/patient", []string{"--patient", "p-1"}, 1, "Patient/p-1"},
		{"ok/outcome", []string{"--outcome", "8"}, 1, "bravo"},
		{"ok/type", []string{"--type", "110113"}, 1, "110113"},
		{"ok/since-until", []string{"--since", "2026-11-23T10:30:00Z", "--until", "2026-11-23T11:30:00Z"}, 1, "bravo"},
		{"ok/none", []string{"--node", "nobody"}, 0, "RECORDED"},
	} {
		t.Run("search/"+tc.name, func(t *testing.T) {
			out, err := runCmd(t, searchCmd(), append(tc.args, path)...)
			if err != nil || !strings.Contains(out, tc.has) || !strings.Contains(out, "\n"+strconv.Itoa(tc.lines)+" event(s)") {
				t.Fatalf("%v\n%s", err, out)
			}
			out, err = runCmd(t, searchCmd(), append(append(tc.args, "--json"), path)...)
			if err != nil || strings.Count(out, "\n") != tc.lines {
				t.Fatalf("--json: %v\n%s", err, out)
			}
		})
	}
	t.Run("fail/bad-outcome", func(t *testing.T) {
		if _, err := runCmd(t, searchCmd(), "--outcome", "3", path); err == nil {
			t.Fatal("--outcome 3 accepted")
		}
	})
	t.Run("ok/export", func(t *testing.T) {
		out, err := runCmd(t, exportCmd(), "--bundle", "collection", "--node", "alpha", path)
		var b struct {
			ResourceType, Type string
			Entry              []struct {
				FullURL  string
				Resource struct{ ResourceType string }
			}
		}
		if err != nil || json.Unmarshal([]byte(out), &b) != nil || b.ResourceType != "Bundle" || b.Type != "collection" ||
			len(b.Entry) != 1 || b.Entry[0].Resource.ResourceType != "AuditEvent" || !strings.HasPrefix(b.Entry[0].FullURL, "urn:uuid:") {
			t.Fatalf("%v %+v\n%s", err, b, out)
		}
	})
}
