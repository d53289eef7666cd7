package driver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crgate/crgate/bench/loadgen"
)

// asLoadgen makes this test binary act as crgate-load when the smoke test
// runs it as the load generator, so the test needs no second build.
const asLoadgen = "CRGATE_BENCH_AS_LOADGEN"

func TestMain(m *testing.M) {
	if os.Getenv(asLoadgen) == "1" {
		os.Exit(loadgen.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// binary returns the binary named by env (as `make test` passes them), or
// builds pkg into dir.
func binary(t *testing.T, env, pkg, dir string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		return p
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = filepath.Join("..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, b)
	}
	return out
}

// smokeSetup gives a smoke run its directory, the crgate and simulator
// binaries, and this test binary as the load generator.
func smokeSetup(t *testing.T) (tmp, crgate, sim, load string) {
	t.Helper()
	tmp = t.TempDir()
	crgate = binary(t, "CRGATE_BIN", "./cmd/crgate", tmp)
	sim = binary(t, "REGISTRY_SIM_BIN", "./examples/registry-sim", tmp)
	load, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(asLoadgen, "1")
	return tmp, crgate, sim, load
}

// runSmoke runs crgate-bench with args, one short trial, its raw data and
// report under tmp; it fails the test unless the run succeeds. It returns
// what was printed, the raw data directory and the report's path.
func runSmoke(t *testing.T, tmp string, args ...string) (stdout, out, results string) {
	t.Helper()
	out, results = filepath.Join(tmp, "out"), filepath.Join(tmp, "results.md")
	args = append(args, "-trials", "1", "-warmup", "50ms", "-duration", "200ms", "-requests", "300",
		"-out", out, "-results", results)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var so, se bytes.Buffer
	if code := Main(ctx, args, &so, &se); code != 0 {
		t.Fatalf("crgate-bench exited %d\nstderr:\n%s\nloadgen.log:\n%s", code, se.String(), tryRead(filepath.Join(out, "loadgen.log")))
	}
	return so.String(), out, results
}

// tryRead is a file's content, or why it could not be read.
func tryRead(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(data)
}

// TestSmoke runs `make bench` in miniature (one trial, a fraction of a
// second per run) so the harness cannot rot: every configuration starts,
// every workload runs through it without a failed request, and the report
// carries the table and a summary line per configuration. It asserts
// nothing about speed. nginx takes part when it is installed.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts crgate, nginx and the simulator")
	}
	tmp, crgate, sim, self := smokeSetup(t)
	stdout, out, results := runSmoke(t, tmp, "-crgate", crgate, "-sim", sim, "-load", self)

	configs := []string{ConfigDirect, ConfigCaddy, ConfigCrgate}
	if findNginx() != "" {
		configs = append(configs, ConfigNginx)
	}
	md := readFile(t, results)
	if md != stdout {
		t.Error("results file differs from what was printed")
	}
	for _, c := range configs {
		if !hasLinePrefix(md, fmt.Sprintf("config=%s workload=%s rps=", c, Headline)) {
			t.Errorf("no summary line for %s in:\n%s", c, md)
		}
	}
	for _, w := range Workloads {
		if !strings.Contains(md, "\n## "+w.Name+" — ") {
			t.Errorf("no table for workload %s", w.Name)
		}
	}
	if prof, err := os.Stat(filepath.Join(out, "crgate.cpu.pprof")); err != nil || prof.Size() == 0 {
		t.Errorf("no CPU profile of crgate: %v", err)
	}

	// Every applicable workload ran through every configuration, and every
	// request succeeded: a proxy that refused the node, a guard that refused
	// the Bundle or a broken nginx configuration fails here.
	ran := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(readFile(t, filepath.Join(out, "runs.jsonl"))))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		rec := parseRun(t, sc.Text())
		ran[rec.Config+" "+rec.Workload] = true
		if rec.Requests == 0 || rec.Errors != 0 {
			t.Errorf("%s %s: %d requests, %d errors (%v)", rec.Config, rec.Workload, rec.Requests, rec.Errors, rec.ErrorKinds)
		}
	}
	for _, c := range configs {
		for _, w := range Workloads {
			if applies(c, w) && !ran[c+" "+w.Name] {
				t.Errorf("%s did not run through %s", w.Name, c)
			}
		}
	}
}

// TestSmokeBaseline runs a configuration from a -baseline binary beside the
// same configuration from -crgate, as a change is compared with main: the
// ~base configuration must start from the baseline binary, be measured,
// and get its same-trial ratio against crgate.
func TestSmokeBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts crgate and the simulator")
	}
	tmp, crgate, sim, self := smokeSetup(t)
	// The baseline is crgate behind a script that notes each start, so the
	// test can tell which binary the ~base configuration ran from.
	marker := filepath.Join(tmp, "baseline-started")
	baseline := filepath.Join(tmp, "baseline-crgate")
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %q\nexec %q \"$@\"\n", marker, crgate)
	if err := os.WriteFile(baseline, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, results := runSmoke(t, tmp, "-crgate", crgate, "-baseline", baseline, "-sim", sim, "-load", self, "-nginx", "none",
		"-configs", "crgate,crgate~base", "-workloads", Headline, "-profile=false")
	if started := readFile(t, marker); strings.Count(started, "run --config") != 1 {
		t.Errorf("the baseline binary started %q; want one run of the ~base configuration", started)
	}
	md := readFile(t, results)
	for _, c := range []string{"crgate", "crgate~base"} {
		if !hasLinePrefix(md, fmt.Sprintf("config=%s workload=%s rps=", c, Headline)) {
			t.Errorf("no summary line for %s in:\n%s", c, md)
		}
	}
	// In the workload's table (the first with a crgate~base row) the last
	// cell is req/s ÷ crgate: a number for the baseline.
	row := ""
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| crgate~base |") {
			row = l
			break
		}
	}
	cells := strings.Split(strings.Trim(row, "| "), "|")
	if last := strings.TrimSpace(cells[len(cells)-1]); row == "" || last == "–" || last == "" {
		t.Errorf("the crgate~base row has no ratio against crgate: %q", row)
	}
	if !strings.Contains(md, "baseline binary") {
		t.Error("the report does not name the baseline binary")
	}
}

func parseRun(t *testing.T, line string) RunRecord {
	t.Helper()
	var rec RunRecord
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("runs.jsonl line %q: %v", line, err)
	}
	return rec
}

func hasLinePrefix(s, prefix string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
