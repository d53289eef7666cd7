package driver

import (
	"bufio"
	"context"
	"crypto/x509"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

func loadPool(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	return pool, nil
}

// machine describes the host: CPU model, CPUs, memory, kernel.
func machine() string {
	model, mem := "unknown CPU", ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSpace(v), &kb)
				mem = fmt.Sprintf(", %.1f GB RAM", float64(kb)/(1<<20))
				break
			}
		}
		f.Close()
	}
	kernel := ""
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(data))
	}
	return fmt.Sprintf("%s, %d CPUs%s%s", model, runtime.NumCPU(), mem, kernel)
}

// loadAvg is /proc/loadavg's three load averages.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// versions names what was measured: the crgate commit and build, Go, and
// nginx.
func versions(ctx context.Context, o Options) [][2]string {
	run := func(name string, args ...string) string {
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(string(out))
	}
	v := [][2]string{}
	commit := run("git", "rev-parse", "--short=12", "HEAD")
	if commit != "unknown" {
		if run("git", "status", "--porcelain", "--untracked-files=no") != "" {
			commit += " (with uncommitted changes)"
		}
		if branch := run("git", "rev-parse", "--abbrev-ref", "HEAD"); branch != "unknown" {
			commit += ", branch " + branch
		}
	}
	v = append(v, [2]string{"harness commit", commit})
	v = append(v, [2]string{"crgate binary", binaryRevision(o.CrgateBin)})
	if o.BaselineBin != "" {
		v = append(v, [2]string{"baseline binary (the ~base configurations)", o.BaselineBin + ": " + binaryRevision(o.BaselineBin)})
	}
	v = append(v, [2]string{"crgate (Caddy)", firstLine(run(o.CrgateBin, "version"))})
	v = append(v, [2]string{"Go (driver)", runtime.Version()})
	if o.NginxBin != "" {
		v = append(v, [2]string{"nginx", strings.TrimPrefix(firstLine(run(o.NginxBin, "-v")), "nginx version: ")})
	}
	return v
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// binaryRevision is the commit the crgate binary was built from, as Go
// recorded it, so a run against a binary built elsewhere says so.
func binaryRevision(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	var rev, modified, at string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			at = s.Value
		}
	}
	if rev == "" {
		return "no VCS stamp in the binary (built with -buildvcs=false; `make bench` builds it from the harness checkout), " + info.GoVersion
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	out := rev + " (" + at + ", " + info.GoVersion
	if modified == "true" {
		out += ", with uncommitted changes"
	}
	return out + ")"
}
