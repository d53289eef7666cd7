package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crgate/crgate/examples/registry-sim/sim"
)

func TestRunFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the error, or errUsage
	}{
		{"fail/listen-all-interfaces", []string{"--listen", "0.0.0.0:0", "--control", "127.0.0.1:0"}, "only loopback"},
		{"fail/listen-no-host", []string{"--listen", ":0", "--control", "127.0.0.1:0"}, "only loopback"},
		{"fail/control-lan", []string{"--listen", "127.0.0.1:0", "--control", "192.168.0.1:0"}, "only loopback"},
		{"fail/patients-zero", []string{"--patients", "0"}, "--patients"},
		{"fail/patients-too-many", []string{"--patients", "10001"}, "--patients"},
		{"fail/max-records", []string{"--max-records", "0"}, "--max-records"},
		{"fail/unknown-flag", []string{"--bogus"}, ""},
		{"fail/positional", []string{"extra"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stderr)
			switch {
			case err == nil:
				t.Fatal("run succeeded")
			case tt.want == "":
				if !errors.Is(err, errUsage) {
					t.Errorf("err %v, want a usage error", err)
				}
			case !strings.Contains(err.Error(), tt.want):
				t.Errorf("err %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestRunServesAndStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrs.json")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--addr-file", path,
			"--patients", "12", "--record=false", "--max-records", "10"}, &stderr)
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	a, err := sim.WaitAddrFile(wctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.WaitHealthy(wctx, a.ControlURL()); err != nil {
		t.Fatal(err)
	}
	recs, err := sim.Records(wctx, a.ControlURL())
	if err != nil || len(recs) != 0 {
		t.Errorf("records with --record=false: %v (%v)", recs, err)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop")
	}
	out := stderr.String()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, a.ListenURL()) || !strings.Contains(out, a.ControlURL()) ||
		!strings.Contains(out, "12 patients, recording off") {
		t.Errorf("start log:\n%s", out)
	}
}
