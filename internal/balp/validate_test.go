package balp

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/fhirreq"
)

// validatorDir holds the npm-installed independent validators (make test-deps).
var validatorDir = filepath.Join("..", "..", "tools", "fhir-validate")

// nodeValidator returns the node binary and script, or skips the test
// locally when they are not installed. Under CI=true a missing validator
// fails the test: CI must prove events valid, not skip the proof.
func nodeValidator(t *testing.T) (node, script string) {
	t.Helper()
	missing := func(why string) {
		msg := why + " (run `make test-deps`: npm ci in tools/fhir-validate)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(validatorDir, "node_modules", "fhir")); err != nil {
		missing("the FHIR validators are not installed")
	}
	if _, err := os.Stat(filepath.Join(validatorDir, "node_modules", "@asymmetrik", "fhir-json-schema-validator")); err != nil {
		missing("the FHIR validators are not installed")
	}
	return node, filepath.Join(validatorDir, "validate.js")
}

// runValidator runs the Node validators once on files and returns, per
// file, whether it was found valid, and the whole output.
func runValidator(t *testing.T, files []string) (map[string]bool, string) {
	t.Helper()
	node, script := nodeValidator(t)
	out, err := exec.Command(node, append([]string{script}, files...)...).CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("running the validator: %v\n%s", err, out)
		}
	}
	valid := make(map[string]bool)
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "ok "):
			f, _, _ := strings.Cut(strings.TrimPrefix(line, "ok "), " (")
			valid[f] = true
		case strings.HasPrefix(line, "INVALID "):
			f, _, _ := strings.Cut(strings.TrimPrefix(line, "INVALID "), ":")
			valid[f] = false
		}
	}
	return valid, string(out)
}

// TestGoldenValidIndependently runs the official FHIR R4 JSON schema and
// FHIR.js (tools/fhir-validate) on every golden file and on the events of
// hostile records, and proves with broken events (negative controls) that
// the validators do reject what is invalid.
func TestGoldenValidIndependently(t *testing.T) {
	goodFiles, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(goodFiles) < len(goldenCases()) {
		t.Fatalf("golden files: %v (%d found, want %d)", err, len(goodFiles), len(goldenCases()))
	}
	b := newTestBuilder(t, testSource())
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for i, rec := range hostileRecords() {
		out, err := b.Marshal(rec)
		if err != nil {
			t.Fatalf("hostile record %d: %v", i, err)
		}
		goodFiles = append(goodFiles, write(fmt.Sprintf("hostile-%d", i), out))
	}

	// Negative controls: each mutation breaks one FHIR rule; each must be
	// rejected, or the check of the good files proves nothing.
	good, err := b.Marshal(goldenCases()[0].rec)
	if err != nil {
		t.Fatal(err)
	}
	mutations := map[string]func(ev map[string]any){
		"no-requestor": func(ev map[string]any) { delete(agent(ev, 0), "requestor") },
		"bad-outcome":  func(ev map[string]any) { ev["outcome"] = "5" },
		"bad-id":       func(ev map[string]any) { ev["id"] = "not an id!" },
		"bad-recorded": func(ev map[string]any) { ev["recorded"] = "2026-11-23 10:00" },
		"empty-string": func(ev map[string]any) { ev["outcomeDesc"] = "" },
		"nbsp-string":  func(ev map[string]any) { ev["outcomeDesc"] = "a\u00a0b" },
		"unknown-elem": func(ev map[string]any) { ev["severity"] = "high" },
		"no-type":      func(ev map[string]any) { delete(ev, "type") },
	}
	var badFiles []string
	for name, mutate := range mutations {
		var ev map[string]any
		if err := json.Unmarshal(good, &ev); err != nil {
			t.Fatal(err)
		}
		mutate(ev)
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		badFiles = append(badFiles, write("broken-"+name, raw))
	}

	valid, out := runValidator(t, append(append([]string{}, goodFiles...), badFiles...))
	for _, f := range goodFiles {
		if v, seen := valid[f]; !seen || !v {
			t.Errorf("%s: not valid per the independent validators (seen %v)", f, seen)
		}
	}
	for _, f := range badFiles {
		if v, seen := valid[f]; !seen || v {
			t.Errorf("%s: a broken event was not rejected (seen %v)", f, seen)
		}
	}
	if t.Failed() {
		t.Logf("validator output:\n%s", out)
	}
}

func agent(ev map[string]any, i int) map[string]any {
	return ev["agent"].([]any)[i].(map[string]any)
}

// hostileRecords are records carrying what clients, certificates and
// guards can put in them: control characters, line and paragraph
// separators, invalid UTF-8, whitespace FHIR strings refuse, huge values,
// odd ids. Every event built from them must still be valid FHIR.
func hostileRecords() []*auditrec.Record {
	nasty := "x\x00y\x1b[31m\r\nz\u2028\u2029\u00a0\u0085\ufeff\v\f\xff\xfe\"\\<script>"
	long := strings.Repeat("A", 100_000)
	var rs []*auditrec.Record
	r := served("search-type", "GET", "/fhir/Patient?identifier="+nasty+"&name="+long, fhirreq.Interaction{ResourceType: "Patient"})
	r.NodeName, r.NodeID, r.NodeFingerprint = nasty, nasty, nasty
	r.RequestID, r.Host, r.TLSServerName, r.Upstream, r.ClientIP = nasty, nasty, nasty, nasty, nasty
	r.Error, r.Status = nasty, 502
	rs = append(rs, r)

	r = served("search-type", "POST", "/fhir/Patient/_search", fhirreq.Interaction{ResourceType: "Patient"})
	r.SearchBody = "identifier=%E2%80%A8%00|%0A&_id=..%2F..%2Fetc&identifier=urn:oid:1|" + long
	r.RefusalModule, r.RefusalReason, r.RefusalDetail, r.Status = "fhir_guard", nasty, long, 403
	rs = append(rs, r)

	r = served("vread", "GET", "/fhir/"+nasty, fhirreq.Interaction{ResourceType: nasty, ID: nasty, VersionID: nasty})
	r.UserID, r.UserName, r.UserRole = nasty, nasty, nasty
	rs = append(rs, r)

	rs = append(rs, &auditrec.Record{
		Kind: auditrec.KindHandshake, ID: "e1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", Time: testTime,
		CertSubject: nasty, NodeFingerprint: long, ClientIP: "",
		RefusalModule: nasty, RefusalReason: nasty, RefusalDetail: nasty,
	})
	rs = append(rs, &auditrec.Record{
		Kind: auditrec.KindUserAccountChange, ID: "f1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", Time: testTime,
		UserID: nasty, UserName: "", Action: nasty, Actor: long, ClientIP: nasty,
	})
	rs = append(rs, &auditrec.Record{
		Kind: auditrec.KindUserLogin, ID: "0.1-x", Time: testTime,
		Status: 500, Error: "",
	})
	return rs
}
