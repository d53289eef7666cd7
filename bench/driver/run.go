// Package driver is `make bench`: it runs the same workloads through the
// registry simulator directly, plain Caddy, nginx and crgate on loopback,
// alternating the configurations within each trial, and reports medians
// and same-trial ratios (bench/results.md). The load generator is package
// loadgen, run as its own pinned process.
package driver

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crgate/crgate/bench/loadgen"
)

// Options configure a benchmark run.
type Options struct {
	CrgateBin string
	// BaselineBin is a second crgate binary (another commit's, e.g.
	// main's) that runs the configurations named with the ~base suffix
	// (crgate~base, caddy~base@1…), so a change is measured against what
	// it changes in the same run: alternated with the rest in every trial
	// and compared by same-trial ratios. It must have the same modules.
	BaselineBin string
	SimBin      string
	// NginxBin is nginx; empty leaves the nginx configuration out.
	NginxBin string
	// LoadCmd is the load generator's argv prefix (crgate-load, or a test
	// binary that acts as it) and LoadEnv its extra environment.
	LoadCmd []string
	LoadEnv []string

	Trials   int
	Warmup   time.Duration
	Duration time.Duration
	// Requests bounds each run's measured requests.
	Requests int64
	// Configs and Workloads select what runs; empty means all that apply.
	Configs   []string
	Workloads []string
	// CrgateGOMAXPROCS, when positive, is set in the crgate configurations'
	// environment (not plain Caddy's): pinned to one CPU, Go would run
	// crgate with one P, and a goroutine blocked in the audit spool's
	// fsync would hold it. See docs/performance.md.
	CrgateGOMAXPROCS int
	// ProxyCPUs and LoadCPUs are taskset CPU lists; empty runs unpinned.
	// The simulator shares the load generator's CPUs, so the proxy under
	// test has its CPU to itself.
	ProxyCPUs string
	LoadCPUs  string

	// Profile adds, after the trials, one unreported run of a workload
	// (ProfileWorkload, default the headline) through a configuration
	// (ProfileConfig, default crgate) with a CPU profile taken through
	// Caddy's admin API (OutDir/crgate.cpu.pprof).
	Profile bool
	// ProfileWorkload and ProfileConfig choose what the profile run
	// measures (defaults: the headline workload through crgate).
	ProfileWorkload, ProfileConfig string

	// OutDir receives the raw data (runs.jsonl, logs, configs, profile).
	OutDir string
	// Command is the command line to print in the report.
	Command string
	// Progress receives a line per run.
	Progress io.Writer
}

// Run performs the benchmark and returns its report.
func Run(ctx context.Context, o Options) (*Report, error) {
	d, err := newDriver(ctx, o)
	if err != nil {
		return nil, err
	}
	defer d.cleanup()
	if err := d.start(ctx); err != nil {
		return nil, err
	}
	for trial := 1; trial <= o.Trials; trial++ {
		if err := d.trial(ctx, trial); err != nil {
			return nil, fmt.Errorf("trial %d: %w", trial, err)
		}
	}
	if o.Profile && slices.Contains(d.configs, cmp.Or(o.ProfileConfig, ConfigCrgate)) {
		if err := d.profile(ctx); err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
	}
	d.report.Finished = time.Now()
	d.report.LoadAfter = loadAvg()
	return d.report, nil
}

type driver struct {
	o         Options
	tmp       string
	pki       pkiPaths
	bundle    string
	tls       *tls.Config
	sim       *proc
	simAddr   string
	simPort   int
	configs   []string
	workloads []Workload
	modules   map[string]bool
	runs      *os.File
	report    *Report
}

func newDriver(ctx context.Context, o Options) (*driver, error) {
	switch {
	case o.Trials < 1:
		return nil, fmt.Errorf("trials %d: at least 1", o.Trials)
	case o.Duration <= 0 || o.Duration > loadgen.MaxDuration:
		return nil, fmt.Errorf("duration %s: must be in (0, %s]", o.Duration, loadgen.MaxDuration)
	case o.Requests < 1:
		return nil, fmt.Errorf("requests %d: at least 1", o.Requests)
	case len(o.LoadCmd) == 0:
		return nil, errors.New("no load generator command")
	case o.OutDir == "":
		return nil, errors.New("no output directory")
	}
	d := &driver{o: o, modules: map[string]bool{}}
	var err error
	if d.modules, err = listModules(ctx, o.CrgateBin); err != nil {
		return nil, err
	}
	if d.configs, err = d.pickConfigs(); err != nil {
		return nil, err
	}
	if len(o.Workloads) == 0 {
		d.workloads = Workloads
	}
	for _, name := range o.Workloads {
		w, err := workloadByName(name)
		if err != nil {
			return nil, err
		}
		d.workloads = append(d.workloads, w)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	if d.tmp, err = os.MkdirTemp("", "crgate-bench-"); err != nil {
		return nil, err
	}
	if d.runs, err = os.Create(filepath.Join(o.OutDir, "runs.jsonl")); err != nil {
		d.cleanup()
		return nil, err
	}
	d.report = &Report{
		Started:    time.Now(),
		Command:    o.Command,
		Machine:    machine(),
		LoadStart:  loadAvg(),
		Trials:     o.Trials,
		Warmup:     o.Warmup,
		Duration:   o.Duration,
		Configs:    d.configs,
		ProxyCPUs:  o.ProxyCPUs,
		GOMAXPROCS: o.CrgateGOMAXPROCS,
		LoadCPUs:   o.LoadCPUs,
		Route:      d.route(),
		Versions:   versions(ctx, o),
	}
	for _, w := range d.workloads {
		d.report.Workloads = append(d.report.Workloads, w.Name)
	}
	return d, nil
}

// listModules asks the crgate binary which modules it has, so the crgate
// configuration puts in its route every module this build provides.
func listModules(ctx context.Context, bin string) (map[string]bool, error) {
	out, err := exec.CommandContext(ctx, bin, "list-modules").Output()
	if err != nil {
		return nil, fmt.Errorf("%s list-modules: %w", bin, err)
	}
	mods := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			mods[l] = true
		}
	}
	if !mods["http.handlers.node_auth"] {
		return nil, fmt.Errorf("%s has no http.handlers.node_auth: not a crgate binary", bin)
	}
	return mods, nil
}

func (d *driver) hasAudit() bool     { return d.modules["http.handlers.audit"] && d.modules["audit"] }
func (d *driver) hasFHIRGuard() bool { return d.modules["http.handlers.fhir_guard"] }

// route describes what the crgate configuration's route holds.
func (d *driver) route() string {
	parts := []string{}
	if d.modules["caddy.listeners.handshake_audit"] {
		parts = append(parts, "handshake_audit listener")
	}
	if d.hasAudit() {
		parts = append(parts, "audit (file sink; async, and sync in crgate-sync)")
	}
	parts = append(parts, "node_auth")
	if d.hasFHIRGuard() {
		parts = append(parts, "fhir_guard (profiles opencr hapi elasticsearch)")
	}
	if d.modules["http.handlers.registry_proxy"] {
		parts = append(parts, "registry_proxy (reverse_proxy with the tuned transport in crgate-reverse-proxy)")
	} else {
		parts = append(parts, "reverse_proxy (tuned transport)")
	}
	if d.modules["http.handlers.fhir_outcome"] {
		parts = append(parts, "handle_errors fhir_outcome")
	}
	return strings.Join(parts, " → ")
}

func (d *driver) pickConfigs() ([]string, error) {
	all := []string{ConfigDirect, ConfigCaddy}
	if d.o.NginxBin != "" {
		all = append(all, ConfigNginx)
	}
	all = append(all, ConfigCrgate)
	if d.hasAudit() {
		all = append(all, ConfigCrgateSync)
	}
	if len(d.o.Configs) == 0 {
		return all, nil
	}
	all = append(all, ConfigCaddyTuned, ConfigCrgateReverseProxy, ConfigCrgateNoAudit)
	var picked []string
	for _, c := range d.o.Configs {
		n, err := parseConfig(c)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(all, n.config) {
			return nil, fmt.Errorf("configuration %q is not available here (have %s)", c, strings.Join(all, ", "))
		}
		goProxy := n.config != ConfigDirect && n.config != ConfigNginx
		if n.procs > 0 && !goProxy {
			return nil, fmt.Errorf("configuration %q: only the Go proxies take @GOMAXPROCS", c)
		}
		if n.baseline && !goProxy {
			return nil, fmt.Errorf("configuration %q: only the Go proxies run from the -baseline binary", c)
		}
		if n.baseline && d.o.BaselineBin == "" {
			return nil, fmt.Errorf("configuration %q: ~base needs -baseline, the binary to compare with", c)
		}
		if slices.Contains(picked, c) {
			return nil, fmt.Errorf("configuration %q is listed twice", c)
		}
		picked = append(picked, c)
	}
	return picked, nil
}

func (d *driver) cleanup() {
	d.sim.stop()
	if d.runs != nil {
		d.runs.Close()
	}
	if d.tmp != "" {
		os.RemoveAll(d.tmp)
	}
}

// start makes the PKI and the Bundle and starts the simulator, recording
// off so it neither grows nor spends time on evidence nobody reads.
func (d *driver) start(ctx context.Context) error {
	var err error
	if d.pki, err = makePKI(ctx, d.o.CrgateBin, filepath.Join(d.tmp, "pki")); err != nil {
		return err
	}
	if d.tls, err = clientTLS(d.pki); err != nil {
		return err
	}
	d.bundle = filepath.Join(d.tmp, "bundle.json")
	if err := writeBundle(d.bundle, BundleSize); err != nil {
		return err
	}
	addrFile := filepath.Join(d.tmp, "sim-addr.json")
	d.sim, err = startProc("registry-sim", d.o.LoadCPUs, filepath.Join(d.o.OutDir, "registry-sim.log"), nil,
		d.o.SimBin, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--record=false", "--addr-file", addrFile)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var addrs struct{ Listen string }
		if data, err := os.ReadFile(addrFile); err == nil && json.Unmarshal(data, &addrs) == nil && addrs.Listen != "" {
			d.simAddr = addrs.Listen
			break
		}
		if d.sim.exited() || time.Now().After(deadline) {
			return fmt.Errorf("registry simulator did not start:\n%s", d.sim.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, port, _ := strings.Cut(d.simAddr, ":")
	d.simPort, err = strconv.Atoi(port)
	return err
}

// server is one configuration's process for a trial.
type server struct {
	config string
	base   string // URL of the site, no path
	proc   *proc  // nil for direct
	admin  int    // Caddy's admin API port (pprof); 0 for nginx and direct
}

func (d *driver) startServer(ctx context.Context, name string, trial int) (*server, error) {
	n, _ := parseConfig(name)
	config, procs := n.config, n.procs
	if config == ConfigDirect {
		return &server{config: config, base: "http://" + d.simAddr}, nil
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(d.tmp, fmt.Sprintf("%s-%d", name, trial))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	logPath := filepath.Join(d.o.OutDir, name+".log")
	var argv []string
	var admin int
	switch config {
	case ConfigNginx:
		conf := filepath.Join(dir, "nginx.conf")
		if err := writeConfig(conf, filepath.Join(d.o.OutDir, "nginx.conf"),
			nginxConf(nginxParams{pki: d.pki, port: port, upstream: d.simAddr, dir: dir})); err != nil {
			return nil, err
		}
		argv = []string{d.o.NginxBin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;"}
	default:
		if admin, err = freePort(); err != nil {
			return nil, err
		}
		p := caddyParams{pki: d.pki, port: port, adminPort: admin, upstream: d.simAddr, auditDir: dir}
		p.tuned = config != ConfigCaddy
		if crgateConfig(config) {
			p.crgate, p.fhirGuard = true, d.hasFHIRGuard()
			p.registryProxy = d.modules["http.handlers.registry_proxy"] && config != ConfigCrgateReverseProxy
			p.fhirOutcome = d.modules["http.handlers.fhir_outcome"]
			p.handshakeAudit = d.modules["caddy.listeners.handshake_audit"] && config != ConfigCrgateNoAudit
			if d.hasAudit() && config != ConfigCrgateNoAudit {
				p.audit = "async"
				if config == ConfigCrgateSync {
					p.audit = "sync"
				}
			}
		}
		conf := filepath.Join(dir, "Caddyfile")
		if err := writeConfig(conf, filepath.Join(d.o.OutDir, name+".Caddyfile"), caddyfile(p)); err != nil {
			return nil, err
		}
		bin := d.o.CrgateBin
		if n.baseline {
			bin = d.o.BaselineBin
		}
		argv = []string{bin, "run", "--config", conf, "--adapter", "caddyfile"}
	}
	var env []string
	switch {
	case procs > 0:
		env = append(env, fmt.Sprintf("GOMAXPROCS=%d", procs))
	case crgateConfig(config) && d.o.CrgateGOMAXPROCS > 0:
		env = append(env, fmt.Sprintf("GOMAXPROCS=%d", d.o.CrgateGOMAXPROCS))
	}
	pr, err := startProc(name, d.o.ProxyCPUs, logPath, env, argv...)
	if err != nil {
		return nil, err
	}
	s := &server{config: name, base: fmt.Sprintf("https://localhost:%d", port), proc: pr, admin: admin}
	if err := d.waitReady(ctx, s); err != nil {
		pr.stop()
		return nil, err
	}
	return s, nil
}

// configName is a configuration name taken apart: "crgate-sync~base@2"
// is crgate-sync, run from the -baseline binary with GOMAXPROCS=2. @N sets
// the same proxy side by side with different numbers of Ps (0: the
// binary's own choice); ~base sets it side by side with another build.
type configName struct {
	config   string
	procs    int
	baseline bool
}

// baselineSuffix marks a configuration run from the -baseline binary.
const baselineSuffix = "~base"

func parseConfig(name string) (configName, error) {
	rest, n, found := strings.Cut(name, "@")
	var c configName
	if found {
		procs, err := strconv.Atoi(n)
		if err != nil || procs < 1 || procs > 64 {
			return configName{}, fmt.Errorf("configuration %q: GOMAXPROCS after @ must be 1..64", name)
		}
		c.procs = procs
	}
	c.config, c.baseline = strings.CutSuffix(rest, baselineSuffix)
	if c.config == "" || strings.ContainsAny(c.config, "~@") {
		return configName{}, fmt.Errorf("configuration %q: want NAME, NAME%s, NAME@N or NAME%s@N", name, baselineSuffix, baselineSuffix)
	}
	return c, nil
}

// crgateConfig reports whether a configuration runs crgate's modules.
func crgateConfig(config string) bool {
	return config == ConfigCrgate || config == ConfigCrgateSync || config == ConfigCrgateReverseProxy || config == ConfigCrgateNoAudit
}

// writeConfig writes a proxy's configuration, and a copy beside the raw
// data so a reader can see exactly what ran.
func writeConfig(path, keep, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keep, []byte(content), 0o644)
}

// waitReady polls until the registered node gets a 200 through the server.
func (d *driver) waitReady(ctx context.Context, s *server) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: d.tls}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if s.proc.exited() {
			return fmt.Errorf("%s exited: %v\n%s", s.config, s.proc.err, s.proc.logTail())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+searchPath, nil)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d.refusesWithoutCert(ctx, s)
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 30s: %v\n%s", s.config, last, s.proc.logTail())
}

// refusesWithoutCert checks that the server demands a client certificate,
// so no configuration is measured doing less than crgate's door does.
// nginx answers 400 after the handshake, Caddy refuses the handshake.
func (d *driver) refusesWithoutCert(ctx context.Context, s *server) error {
	noCert := d.tls.Clone()
	noCert.Certificates = nil
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: noCert}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+searchPath, nil)
	resp, err := client.Do(req)
	if err != nil {
		return nil
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 400 {
		return fmt.Errorf("%s answered %d to a client without a certificate", s.config, resp.StatusCode)
	}
	return nil
}

// trial starts every configuration's server, runs each workload through
// each configuration in turn (A B C D for one workload, then the next), so
// the configurations compared in a ratio ran seconds apart, then records
// each server's peak RSS and stops them.
func (d *driver) trial(ctx context.Context, trial int) error {
	servers := map[string]*server{}
	defer func() {
		for _, s := range servers {
			if s.proc != nil {
				s.proc.stop()
			}
		}
		// The trial's configurations, spools and audit files.
		for _, c := range d.configs {
			os.RemoveAll(filepath.Join(d.tmp, fmt.Sprintf("%s-%d", c, trial)))
		}
	}()
	for _, c := range d.configs {
		s, err := d.startServer(ctx, c, trial)
		if err != nil {
			return err
		}
		servers[c] = s
	}
	for _, w := range d.workloads {
		for _, c := range d.configs {
			if !applies(c, w) {
				continue
			}
			rec, err := d.runLoad(ctx, trial, servers[c], w)
			if err != nil {
				return fmt.Errorf("%s %s: %w", c, w.Name, err)
			}
			d.report.Runs = append(d.report.Runs, rec)
			line, _ := json.Marshal(rec)
			fmt.Fprintf(d.runs, "%s\n", line)
			if d.o.Progress != nil {
				fmt.Fprintf(d.o.Progress, "trial %d %-13s %-12s %8.0f req/s  p99 %7.2f ms  proxy %6.1f µs/req  errors %d\n",
					trial, w.Name, c, rec.RPS, rec.P99ms, rec.ProxyCPUus, rec.Errors)
			}
		}
	}
	for _, c := range d.configs {
		s := servers[c]
		if s.proc == nil {
			continue
		}
		rss, err := peakRSS(s.proc.tree())
		if err != nil {
			return fmt.Errorf("%s peak RSS: %w", c, err)
		}
		d.report.RSS = append(d.report.RSS, RSSRecord{Trial: trial, Config: c, PeakBytes: rss})
	}
	return nil
}

// RunRecord is one workload through one configuration in one trial: the
// load generator's figures and what /proc said about the servers.
type RunRecord struct {
	Trial    int    `json:"trial"`
	Config   string `json:"config"`
	Workload string `json:"workload"`
	loadgen.Result
	// ProxyCPUus is the proxy's user+system CPU time over the measured
	// window divided by the requests measured; ProxyCPUPct is that time as
	// a share of the window (100 = one core busy).
	ProxyCPUus  float64 `json:"proxy_cpu_us_per_req"`
	ProxyCPUPct float64 `json:"proxy_cpu_pct"`
	// UpstreamCPUus is the simulator's, likewise.
	UpstreamCPUus float64 `json:"upstream_cpu_us_per_req"`
	// UpstreamConns is how many connections to the simulator were opened
	// during the run (by the proxy; by the load generator when direct).
	UpstreamConns int `json:"upstream_new_conns"`
}

// RSSRecord is a server's peak resident set over one trial's workloads.
type RSSRecord struct {
	Trial     int    `json:"trial"`
	Config    string `json:"config"`
	PeakBytes int64  `json:"peak_bytes"`
}

func (d *driver) runLoad(ctx context.Context, trial int, s *server, w Workload) (RunRecord, error) {
	rec := RunRecord{Trial: trial, Config: s.config, Workload: w.Name}
	args := []string{
		"-url", s.base + searchPath,
		"-c", strconv.Itoa(w.Concurrency),
		"-duration", d.o.Duration.String(),
		"-warmup", d.o.Warmup.String(),
		"-requests", strconv.FormatInt(d.o.Requests, 10),
		"-marks",
	}
	if strings.HasPrefix(s.base, "https:") {
		args = append(args, "-ca", d.pki.ca(), "-cert", d.pki.nodeCert(), "-key", d.pki.nodeKey())
	}
	if w.HTTP2 {
		args = append(args, "-h2")
	}
	if w.Handshake {
		args = append(args, "-handshake")
	}
	if w.Post {
		args[1] = s.base + "/fhir"
		args = append(args, "-method", "POST", "-body", d.bundle, "-content-type", "application/fhir+json")
	}
	runCtx, cancel := context.WithTimeout(ctx, d.o.Warmup+d.o.Duration+time.Minute)
	defer cancel()
	argv := pinned(d.o.LoadCPUs, append(slices.Clone(d.o.LoadCmd), args...))
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), d.o.LoadEnv...)
	stderr, err := os.OpenFile(filepath.Join(d.o.OutDir, "loadgen.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return rec, err
	}
	defer stderr.Close()
	fmt.Fprintf(stderr, "== trial %d %s %s\n", trial, s.config, w.Name)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return rec, err
	}
	if err := cmd.Start(); err != nil {
		return rec, fmt.Errorf("load generator: %w", err)
	}

	var proxyPids []int
	if s.proc != nil {
		proxyPids = s.proc.tree()
	}
	simPids := []int{d.sim.cmd.Process.Pid}
	var (
		p0, p1, u0, u1 time.Duration
		peers0         map[string]struct{}
		t0, t1         time.Time
		sampleErr      error
		last           string
	)
	sample := func(proxy, sim *time.Duration, at *time.Time) {
		*at = time.Now()
		var err error
		if proxyPids != nil {
			if *proxy, err = cpuTime(proxyPids); err != nil {
				sampleErr = err
			}
		}
		if *sim, err = cpuTime(simPids); err != nil {
			sampleErr = err
		}
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		switch line := sc.Text(); line {
		case "# measure start":
			peers0 = tcpPeersOf(d.simPort)
			sample(&p0, &u0, &t0)
		case "# measure end":
			sample(&p1, &u1, &t1)
			rec.UpstreamConns = newPeers(peers0, tcpPeersOf(d.simPort))
		default:
			last = line
		}
	}
	if err := cmd.Wait(); err != nil {
		return rec, fmt.Errorf("load generator: %w (see %s)", err, stderr.Name())
	}
	if sampleErr != nil {
		return rec, sampleErr
	}
	if t0.IsZero() || t1.IsZero() {
		return rec, errors.New("load generator printed no measure marks")
	}
	if err := json.Unmarshal([]byte(last), &rec.Result); err != nil {
		return rec, fmt.Errorf("load generator output %q: %w", last, err)
	}
	if n := float64(rec.Requests); n > 0 {
		if proxyPids != nil {
			rec.ProxyCPUus = float64((p1 - p0).Microseconds()) / n
			rec.ProxyCPUPct = 100 * float64(p1-p0) / float64(t1.Sub(t0))
		}
		rec.UpstreamCPUus = float64((u1 - u0).Microseconds()) / n
	}
	return rec, nil
}

func clientTLS(p pkiPaths) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(p.nodeCert(), p.nodeKey())
	if err != nil {
		return nil, err
	}
	pool, err := loadPool(p.ca())
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost"}, nil
}

// profile runs the profile workload through a fresh crgate once more,
// not counted in the report, while Caddy's admin API takes a CPU profile
// of it: the evidence for where crgate's time goes.
func (d *driver) profile(ctx context.Context) error {
	wname, config := cmp.Or(d.o.ProfileWorkload, Headline), cmp.Or(d.o.ProfileConfig, ConfigCrgate)
	w, err := workloadByName(wname)
	if err != nil {
		return err
	}
	s, err := d.startServer(ctx, config, 0)
	if err != nil {
		return err
	}
	defer func() {
		s.proc.stop()
		os.RemoveAll(filepath.Join(d.tmp, config+"-0"))
	}()
	seconds := max(1, int(d.o.Duration/time.Second))
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", s.admin, seconds)
	type fetched struct {
		data []byte
		err  error
	}
	done := make(chan fetched, 1)
	go func() {
		// Let the warm-up pass first.
		time.Sleep(d.o.Warmup)
		client := &http.Client{Timeout: time.Duration(seconds)*time.Second + 30*time.Second}
		resp, err := client.Get(url)
		if err != nil {
			done <- fetched{err: err}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: status %d", url, resp.StatusCode)
		}
		done <- fetched{data, err}
	}()
	if _, err := d.runLoad(ctx, 0, s, w); err != nil {
		return err
	}
	f := <-done
	if f.err != nil {
		return f.err
	}
	path := filepath.Join(d.o.OutDir, "crgate.cpu.pprof")
	if err := os.WriteFile(path, f.data, 0o644); err != nil {
		return err
	}
	d.report.Profile, d.report.ProfileWorkload, d.report.ProfileConfig = path, wname, config
	return nil
}
