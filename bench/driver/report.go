package driver

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Report is a benchmark run's data and its rendering.
type Report struct {
	Started, Finished    time.Time
	Command              string
	Machine              string
	LoadStart, LoadAfter string
	Trials               int
	Warmup, Duration     time.Duration
	Configs, Workloads   []string
	ProxyCPUs, LoadCPUs  string
	// GOMAXPROCS is what the crgate configurations ran with (0: Go's
	// default, one per CPU they may use).
	GOMAXPROCS int
	Route      string
	Versions   [][2]string
	Runs       []RunRecord
	RSS        []RSSRecord
	// Profile is the CPU profile taken after the trials, if one was, and
	// ProfileWorkload and ProfileConfig what it measured.
	Profile                        string
	ProfileWorkload, ProfileConfig string
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func (r *Report) runsOf(config, workload string) []RunRecord {
	var out []RunRecord
	for _, run := range r.Runs {
		if run.Config == config && run.Workload == workload {
			out = append(out, run)
		}
	}
	return out
}

// Median is the median over trials of one figure of a configuration's
// runs of a workload; NaN when it did not run.
func (r *Report) Median(config, workload string, f func(RunRecord) float64) float64 {
	var xs []float64
	for _, run := range r.runsOf(config, workload) {
		xs = append(xs, f(run))
	}
	return median(xs)
}

// Ratio is the median over trials of f(config)/f(base), each ratio taken
// within one trial, so a slow minute on a shared machine slows both sides.
func (r *Report) Ratio(config, base, workload string, f func(RunRecord) float64) float64 {
	bases := map[int]float64{}
	for _, run := range r.runsOf(base, workload) {
		bases[run.Trial] = f(run)
	}
	var xs []float64
	for _, run := range r.runsOf(config, workload) {
		if b, ok := bases[run.Trial]; ok && b > 0 {
			xs = append(xs, f(run)/b)
		}
	}
	return median(xs)
}

// RSSMedian is a configuration's median peak RSS in bytes.
func (r *Report) RSSMedian(config string) float64 {
	var xs []float64
	for _, x := range r.RSS {
		if x.Config == config {
			xs = append(xs, float64(x.PeakBytes))
		}
	}
	return median(xs)
}

// RSSRatio is the median same-trial ratio of peak RSS.
func (r *Report) RSSRatio(config, base string) float64 {
	bases := map[int]float64{}
	for _, x := range r.RSS {
		if x.Config == base {
			bases[x.Trial] = float64(x.PeakBytes)
		}
	}
	var xs []float64
	for _, x := range r.RSS {
		if b, ok := bases[x.Trial]; ok && x.Config == config && b > 0 {
			xs = append(xs, float64(x.PeakBytes)/b)
		}
	}
	return median(xs)
}

func (r *Report) errors(config, workload string) (total int64, kinds string) {
	byKind := map[string]int64{}
	for _, run := range r.runsOf(config, workload) {
		total += run.Errors
		for k, v := range run.ErrorKinds {
			byKind[k] += v
		}
	}
	var parts []string
	for k, v := range byKind {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(parts)
	return total, strings.Join(parts, ", ")
}

// Errors is the number of failed requests over every run.
func (r *Report) Errors() int64 {
	var n int64
	for _, run := range r.Runs {
		n += run.Errors
	}
	return n
}

var (
	fRPS   = func(x RunRecord) float64 { return x.RPS }
	fP50   = func(x RunRecord) float64 { return x.P50ms }
	fP99   = func(x RunRecord) float64 { return x.P99ms }
	fCPU   = func(x RunRecord) float64 { return x.ProxyCPUus }
	fPct   = func(x RunRecord) float64 { return x.ProxyCPUPct }
	fConns = func(x RunRecord) float64 { return float64(x.UpstreamConns) }
)

func (r *Report) has(config string) bool { return slices.Contains(r.Configs, config) }

// num formats a figure, "–" when it is missing.
func num(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

// Markdown renders the report for bench/results.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("# crgate benchmark results\n\n")
	fmt.Fprintf(&b, "- **date**: %s (UTC), took %s\n", r.Started.UTC().Format("2006-01-02 15:04"), r.Finished.Sub(r.Started).Round(time.Second))
	fmt.Fprintf(&b, "- **command**: `%s`\n", r.Command)
	fmt.Fprintf(&b, "- **machine**: %s; load average %s at the start, %s at the end\n", r.Machine, r.LoadStart, r.LoadAfter)
	if r.ProxyCPUs != "" {
		fmt.Fprintf(&b, "- **CPU placement**: the proxy under test pinned to CPU %s (`taskset -c %s`; nginx runs one worker; plain Caddy and crgate are the same binary, which raises GOMAXPROCS to at least 2 itself (cmd/crgate/procs.go) so a goroutine in the audit spool's fsync does not hold the only P", r.ProxyCPUs, r.ProxyCPUs)
		if r.GOMAXPROCS > 0 {
			fmt.Fprintf(&b, "; the crgate configurations ran with GOMAXPROCS=%d set by -crgate-gomaxprocs", r.GOMAXPROCS)
		}
		fmt.Fprintf(&b, "); the load generator and the registry simulator share CPU %s\n", r.LoadCPUs)
	} else {
		b.WriteString("- **CPU placement**: unpinned (taskset unavailable or fewer than 2 CPUs)\n")
	}
	for _, v := range r.Versions {
		fmt.Fprintf(&b, "- **%s**: %s\n", v[0], v[1])
	}
	fmt.Fprintf(&b, "- **crgate route**: %s\n", r.Route)
	fmt.Fprintf(&b, "- **method**: %d trials; in each, every workload runs through every configuration in turn (%s), %s warm-up then %s measured per run. Figures are medians over trials; ratios are medians of same-trial ratios. Proxy CPU is utime+stime from /proc/<pid>/stat over the measured window ÷ requests; peak RSS is VmHWM over a trial (nginx: master + worker).\n",
		r.Trials, strings.Join(r.Configs, " → "), r.Warmup, r.Duration)
	b.WriteString("- **noise**: the machine is shared (other builds and tests ran during this run); trust the same-trial ratios over the absolute req/s.\n")

	for _, w := range r.Workloads {
		fmt.Fprintf(&b, "\n## %s\n\n", describe(w))
		b.WriteString("| config | req/s | p50 ms | p99 ms | proxy µs/req | proxy CPU % | upstream conns opened | errors | req/s ÷ caddy | req/s ÷ nginx | p99 ÷ nginx | req/s ÷ crgate |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, c := range r.Configs {
			if len(r.runsOf(c, w)) == 0 {
				continue
			}
			errs, kinds := r.errors(c, w)
			errCell := fmt.Sprint(errs)
			if kinds != "" {
				errCell += " (" + kinds + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c,
				num(r.Median(c, w, fRPS), 0), num(r.Median(c, w, fP50), 3), num(r.Median(c, w, fP99), 3),
				num(nanIfDirect(c, r.Median(c, w, fCPU)), 1), num(nanIfDirect(c, r.Median(c, w, fPct)), 0),
				num(r.Median(c, w, fConns), 0), errCell,
				num(r.ratioIf(c, ConfigCaddy, w, fRPS), 2), num(r.ratioIf(c, ConfigNginx, w, fRPS), 2),
				num(r.ratioIf(c, ConfigNginx, w, fP99), 2), num(r.ratioIf(c, ConfigCrgate, w, fRPS), 2))
		}
	}

	b.WriteString("\n## Peak RSS over a trial\n\n| config | peak RSS MB | ÷ caddy | ÷ nginx |\n|---|---:|---:|---:|\n")
	for _, c := range r.Configs {
		if c == ConfigDirect {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c, num(r.RSSMedian(c)/1e6, 1),
			num(r.rssRatioIf(c, ConfigCaddy), 2), num(r.rssRatioIf(c, ConfigNginx), 2))
	}

	b.WriteString("\n## Targets (issue 6)\n\n| target | measured | met |\n|---|---:|---|\n")
	for _, t := range r.Targets() {
		met := "no"
		switch {
		case math.IsNaN(t.Value):
			met = "not measured"
		case t.Met():
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Name, num(t.Value, 2), met)
	}

	if r.Profile != "" {
		fmt.Fprintf(&b, "\nA CPU profile of %s under %s (one extra run after the trials, not in the tables) is in `%s`; read it with `go tool pprof -top -cum bin/crgate %s`.\n", r.ProfileConfig, r.ProfileWorkload, r.Profile, r.Profile)
	}

	b.WriteString("\n## Summary lines\n\n```\n")
	for _, l := range r.SummaryLines() {
		b.WriteString(l + "\n")
	}
	b.WriteString("```\n")
	return b.String()
}

func nanIfDirect(config string, x float64) float64 {
	if config == ConfigDirect {
		return math.NaN()
	}
	return x
}

func (r *Report) ratioIf(config, base, workload string, f func(RunRecord) float64) float64 {
	// Against crgate only its variants compare: sync, default transport,
	// other numbers of Ps, the baseline build.
	variant := base != ConfigCrgate || strings.HasPrefix(config, ConfigCrgate)
	if config == base || !r.has(base) || !variant {
		return math.NaN()
	}
	return r.Ratio(config, base, workload, f)
}

func (r *Report) rssRatioIf(config, base string) float64 {
	if config == base || !r.has(base) {
		return math.NaN()
	}
	return r.RSSRatio(config, base)
}

func describe(workload string) string {
	w, err := workloadByName(workload)
	if err != nil {
		return workload
	}
	proto := "HTTP/1.1"
	if w.HTTP2 {
		proto = "HTTP/2"
	}
	switch {
	case w.Handshake:
		return fmt.Sprintf("%s — a new TLS handshake per request (%s, concurrency %d, GET %s)", w.Name, proto, w.Concurrency, searchPath)
	case w.Post:
		return fmt.Sprintf("%s — 1 MB batch Bundle POST /fhir (%s keep-alive, concurrency %d)", w.Name, proto, w.Concurrency)
	}
	return fmt.Sprintf("%s — keep-alive GET %s (%s, concurrency %d)", w.Name, searchPath, proto, w.Concurrency)
}

// Target is one of the goals with the value measured for it.
type Target struct {
	Name  string
	Value float64
	// Min or Max bound Value.
	Min, Max float64
}

// Met reports whether the measured value is within the bound.
func (t Target) Met() bool {
	if math.IsNaN(t.Value) {
		return false
	}
	if t.Max != 0 {
		return t.Value <= t.Max
	}
	return t.Value >= t.Min
}

// Targets are the goals, with what this run measured.
func (r *Report) Targets() []Target {
	nan := math.NaN()
	ratio := func(c, base, w string, f func(RunRecord) float64) float64 {
		if !r.has(c) || !r.has(base) {
			return nan
		}
		return r.Ratio(c, base, w, f)
	}
	ts := []Target{
		{Name: "crgate ÷ caddy req/s, " + Headline + " (≥ 1.5)", Value: ratio(ConfigCrgate, ConfigCaddy, Headline, fRPS), Min: 1.5},
		{Name: "crgate ÷ nginx req/s, " + Headline + " (≥ 0.5)", Value: ratio(ConfigCrgate, ConfigNginx, Headline, fRPS), Min: 0.5},
		{Name: "crgate ÷ nginx p99, " + Headline + " (≤ 1.5)", Value: ratio(ConfigCrgate, ConfigNginx, Headline, fP99), Max: 1.5},
		{Name: "crgate-sync ÷ crgate (async) req/s, " + Headline + " (≥ 0.85)", Value: ratio(ConfigCrgateSync, ConfigCrgate, Headline, fRPS), Min: 0.85},
		{Name: "crgate ÷ nginx handshakes/s, handshake-c16 (≥ 1.5)", Value: ratio(ConfigCrgate, ConfigNginx, "handshake-c16", fRPS), Min: 1.5},
		{Name: "crgate ÷ caddy peak RSS (≤ 1.5)", Value: nan, Max: 1.5},
	}
	if r.has(ConfigCrgate) && r.has(ConfigCaddy) {
		ts[len(ts)-1].Value = r.RSSRatio(ConfigCrgate, ConfigCaddy)
	}
	return ts
}

// SummaryLines are one machine-readable line per configuration, for the
// headline workload.
func (r *Report) SummaryLines() []string {
	var lines []string
	for _, c := range r.Configs {
		if len(r.runsOf(c, Headline)) == 0 {
			continue
		}
		l := fmt.Sprintf("config=%s workload=%s rps=%s p50_ms=%s p99_ms=%s", c, Headline,
			num(r.Median(c, Headline, fRPS), 0), num(r.Median(c, Headline, fP50), 3), num(r.Median(c, Headline, fP99), 3))
		if c != ConfigDirect {
			l += fmt.Sprintf(" rss_mb=%s cpu_us_per_req=%s", num(r.RSSMedian(c)/1e6, 1), num(r.Median(c, Headline, fCPU), 1))
		}
		for _, base := range []string{ConfigCaddy, ConfigNginx} {
			if c != base && r.has(base) {
				l += fmt.Sprintf(" ratio_vs_%s=%s", base, num(r.Ratio(c, base, Headline, fRPS), 2))
			}
		}
		lines = append(lines, l)
	}
	return lines
}
