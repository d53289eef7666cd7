package driver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Main is the crgate-bench command: it returns the exit status (0 done,
// 1 the benchmark failed, 2 usage, 3 done but some requests failed).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("crgate-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	var configs, workloads, loadBin, results string
	var noPin bool
	fs.StringVar(&o.CrgateBin, "crgate", "bin/crgate", "crgate `binary`")
	fs.StringVar(&o.BaselineBin, "baseline", "", "a second crgate `binary` (e.g. main's build) for the configurations named NAME~base, e.g. -configs crgate,crgate~base: a change against what it changes, in the same run")
	fs.StringVar(&o.SimBin, "sim", "bin/registry-sim", "registry simulator `binary`")
	fs.StringVar(&loadBin, "load", "bin/crgate-load", "load generator `binary`")
	fs.StringVar(&o.NginxBin, "nginx", "auto", "nginx `binary`; auto looks in PATH and /usr/sbin, none leaves nginx out")
	fs.IntVar(&o.Trials, "trials", 7, "trials (each runs every workload through every configuration)")
	fs.DurationVar(&o.Warmup, "warmup", 500*time.Millisecond, "unmeasured warm-up per run")
	fs.DurationVar(&o.Duration, "duration", 1500*time.Millisecond, "measured duration per run")
	fs.Int64Var(&o.Requests, "requests", 500_000, "at most this many measured requests per run")
	fs.StringVar(&configs, "configs", "", "comma-separated configurations (default: all available of direct, caddy, nginx, crgate, crgate-sync; opt-in: caddy-tuned, crgate-reverse-proxy, crgate-noaudit); NAME@N runs a Go proxy with GOMAXPROCS=N, e.g. caddy@1,crgate@2; NAME~base runs it from the -baseline binary")
	fs.StringVar(&workloads, "workloads", "", "comma-separated workloads (default: all)")
	fs.BoolVar(&noPin, "no-pin", false, "do not pin processes to CPUs")
	fs.IntVar(&o.CrgateGOMAXPROCS, "crgate-gomaxprocs", 0, "GOMAXPROCS for the crgate configurations only (0: the binary's own choice, at least 2); see docs/performance.md")
	fs.BoolVar(&o.Profile, "profile", true, "after the trials, take a CPU profile of crgate (-profile-config) under a workload (-profile-workload; not counted)")
	fs.StringVar(&o.ProfileWorkload, "profile-workload", "", "the workload the profile run measures (default "+Headline+")")
	fs.StringVar(&o.ProfileConfig, "profile-config", "", "the configuration the profile run measures (default crgate)")
	fs.StringVar(&o.OutDir, "out", "bench/out", "raw data `directory`")
	// Only `make bench` (the full run) writes the committed report; an ad
	// hoc run (a subset, a profile, an A/B) prints its tables only.
	fs.StringVar(&results, "results", "", "also write the Markdown report to this `file` (`make bench`: bench/results.md)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "crgate-bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	o.LoadCmd = []string{loadBin}
	o.Configs, o.Workloads = splitList(configs), splitList(workloads)
	o.Command = "crgate-bench " + strings.Join(args, " ")
	o.Progress = stderr
	switch o.NginxBin {
	case "none":
		o.NginxBin = ""
	case "auto":
		o.NginxBin = findNginx()
		if o.NginxBin == "" {
			fmt.Fprintln(stderr, "crgate-bench: nginx not found (apt-get install -y nginx); leaving it out")
		}
	}
	if !noPin {
		o.ProxyCPUs, o.LoadCPUs = placement()
	}
	o.OutDir = filepath.Clean(o.OutDir)

	rep, err := Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "crgate-bench:", err)
		return 1
	}
	md := rep.Markdown()
	fmt.Fprint(stdout, md)
	if results != "" {
		if err := os.WriteFile(results, []byte(md), 0o644); err != nil {
			fmt.Fprintln(stderr, "crgate-bench:", err)
			return 1
		}
	}
	if n := rep.Errors(); n > 0 {
		fmt.Fprintf(stderr, "crgate-bench: %d requests failed; see %s\n", n, filepath.Join(o.OutDir, "loadgen.log"))
		return 3
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func findNginx() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// placement gives the proxy CPU 0 and everything else the last CPU, when
// there are at least two and taskset exists.
func placement() (proxy, load string) {
	if runtime.NumCPU() < 2 {
		return "", ""
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return "", ""
	}
	return "0", strconv.Itoa(runtime.NumCPU() - 1)
}
