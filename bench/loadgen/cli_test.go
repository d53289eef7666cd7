package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestMainPrintsOneJSONLine(t *testing.T) {
	p := newTestPKI(t)
	s := newTestServer(t, p)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{
		"-url", s.URL + "/x", "-ca", p.caFile, "-cert", p.cert, "-key", p.key,
		"-c", "2", "-requests", "20", "-duration", "1m", "-marks", "-header", "X-Test: 1",
	}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 || lines[0] != "# measure start" || lines[1] != "# measure end" {
		t.Fatalf("stdout %q: want the two marks and one JSON line", stdout.String())
	}
	var res Result
	if err := json.Unmarshal([]byte(lines[2]), &res); err != nil {
		t.Fatalf("last line is not JSON: %v", err)
	}
	if res.OK != 20 || res.Concurrency != 2 {
		t.Errorf("ok %d concurrency %d", res.OK, res.Concurrency)
	}
	if !strings.Contains(stderr.String(), "20 requests in") {
		t.Errorf("human summary missing: %q", stderr.String())
	}
}

func TestMainRefuses(t *testing.T) {
	p := newTestPKI(t)
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"fail/no-url", []string{"-c", "2"}, 2},
		{"fail/extra-args", []string{"-url", "https://127.0.0.1/", "extra"}, 2},
		{"fail/unknown-flag", []string{"-url", "https://127.0.0.1/", "-insecure"}, 2},
		{"fail/bad-header", []string{"-url", "https://127.0.0.1/", "-header", "nocolon"}, 2},
		{"fail/cert-without-key", []string{"-url", "https://127.0.0.1/", "-cert", p.cert}, 1},
		{"fail/missing-ca", []string{"-url", "https://127.0.0.1/", "-ca", p.caFile + ".missing"}, 1},
		{"fail/not-loopback", []string{"-url", "https://192.0.2.1/", "-duration", "1s"}, 1},
		{"fail/unbounded", []string{"-url", "https://127.0.0.1/", "-duration", "11m"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Main(context.Background(), tt.args, &stdout, &stderr); code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("printed %q on stdout", stdout.String())
			}
		})
	}
}
