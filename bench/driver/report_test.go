package driver

import (
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"ok/odd", []float64{5, 1, 3}, 3},
		{"ok/even", []float64{4, 1, 3, 2}, 2.5},
		{"ok/one", []float64{7}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.xs); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
			}
		})
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
}

func rec(trial int, config, workload string, rps, p99 float64) RunRecord {
	r := RunRecord{Trial: trial, Config: config, Workload: workload}
	r.RPS, r.P99ms = rps, p99
	return r
}

// Ratios are taken within a trial: a slow trial slows both sides and
// cancels out, where a ratio of medians would not.
func TestRatioIsSameTrial(t *testing.T) {
	r := &Report{Configs: []string{ConfigCaddy, ConfigCrgate}, Runs: []RunRecord{
		rec(1, ConfigCaddy, Headline, 1000, 10), rec(1, ConfigCrgate, Headline, 2000, 10),
		rec(2, ConfigCaddy, Headline, 100, 10), rec(2, ConfigCrgate, Headline, 150, 10),
		rec(3, ConfigCaddy, Headline, 400, 10), rec(3, ConfigCrgate, Headline, 720, 10),
	}}
	if got := r.Ratio(ConfigCrgate, ConfigCaddy, Headline, fRPS); got != 1.8 {
		t.Errorf("ratio %v, want the median of 2, 1.5, 1.8 = 1.8", got)
	}
	if got := r.Median(ConfigCrgate, Headline, fRPS); got != 720 {
		t.Errorf("median %v, want 720", got)
	}
}

func TestTargetsAndSummary(t *testing.T) {
	r := &Report{
		Configs:   []string{ConfigDirect, ConfigCaddy, ConfigNginx, ConfigCrgate},
		Workloads: []string{Headline},
		Runs: []RunRecord{
			rec(1, ConfigDirect, Headline, 30000, 1), rec(1, ConfigCaddy, Headline, 7000, 20),
			rec(1, ConfigNginx, Headline, 27000, 4), rec(1, ConfigCrgate, Headline, 14000, 5),
		},
		RSS: []RSSRecord{{1, ConfigCaddy, 40e6}, {1, ConfigNginx, 20e6}, {1, ConfigCrgate, 50e6}},
	}
	met := map[string]bool{}
	for _, tg := range r.Targets() {
		met[tg.Name[:strings.LastIndex(tg.Name, "(")]] = tg.Met()
	}
	want := map[string]bool{
		"crgate ÷ caddy req/s, search-h1-c64 ":               true,  // 2.0 ≥ 1.5
		"crgate ÷ nginx req/s, search-h1-c64 ":               true,  // 0.52 ≥ 0.5
		"crgate ÷ nginx p99, search-h1-c64 ":                 true,  // 1.25 ≤ 1.5
		"crgate-sync ÷ crgate (async) req/s, search-h1-c64 ": false, // not measured
		"crgate ÷ nginx handshakes/s, handshake-c16 ":        false, // not measured
		"crgate ÷ caddy peak RSS ":                           true,  // 1.25 ≤ 1.5
	}
	for name, w := range want {
		if got, ok := met[name]; !ok || got != w {
			t.Errorf("target %q met=%v (listed %v), want %v", name, got, ok, w)
		}
	}
	lines := r.SummaryLines()
	if len(lines) != 4 {
		t.Fatalf("%d summary lines, want 4: %q", len(lines), lines)
	}
	wantCrgate := "config=crgate workload=search-h1-c64 rps=14000 p50_ms=0.000 p99_ms=5.000 rss_mb=50.0 cpu_us_per_req=0.0 ratio_vs_caddy=2.00 ratio_vs_nginx=0.52"
	if lines[3] != wantCrgate {
		t.Errorf("crgate line\n%s\nwant\n%s", lines[3], wantCrgate)
	}
	if strings.Contains(lines[0], "rss_mb") || !strings.HasPrefix(lines[0], "config=direct ") {
		t.Errorf("direct line %q: the simulator is not a proxy, no RSS", lines[0])
	}
	md := r.Markdown()
	for _, s := range []string{"## " + Headline, "| crgate | 14000 |", "| – |\n", wantCrgate} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q", s)
		}
	}
}

// The report names the workload and configuration the profile measured,
// not the headline's.
func TestMarkdownNamesTheProfiledWorkload(t *testing.T) {
	r := &Report{Configs: []string{ConfigCrgate}, Workloads: []string{"handshake-c16"},
		Profile: "out/crgate.cpu.pprof", ProfileWorkload: "handshake-c16", ProfileConfig: "crgate@2"}
	md := r.Markdown()
	if !strings.Contains(md, "A CPU profile of crgate@2 under handshake-c16 ") {
		t.Errorf("the profile line does not name crgate@2 and handshake-c16:\n%s", md)
	}
}
