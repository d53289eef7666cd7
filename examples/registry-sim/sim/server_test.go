package sim

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:3000", true},
		{"127.0.0.1:0", true},
		{"127.10.20.30:80", true},
		{"[::1]:0", true},
		{"localhost:0", true},
		{"LocalHost:3000", true},
		{"[::ffff:127.0.0.1]:0", true},
		{"0.0.0.0:3000", false},
		{":3000", false},
		{"[::]:3000", false},
		{"10.0.0.1:3000", false},
		{"192.168.1.10:0", false},
		{"example.com:3000", false},
		{"localhost.example.com:3000", false},
		{"127.0.0.1", false},
		{"", false},
	}
	for _, tt := range tests {
		name := "ok/" + tt.addr
		if !tt.ok {
			name = "fail/" + tt.addr
		}
		t.Run(name, func(t *testing.T) {
			err := CheckLoopback(tt.addr)
			if (err == nil) != tt.ok {
				t.Errorf("CheckLoopback(%q) = %v", tt.addr, err)
			}
		})
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, cfg := range []Config{
		{Listen: "0.0.0.0:0", Control: "127.0.0.1:0"},
		{Listen: "127.0.0.1:0", Control: ":0"},
	} {
		in, err := Start(cfg)
		if err == nil {
			_ = in.Shutdown(context.Background())
			t.Fatalf("Start(%+v) succeeded", cfg)
		}
		if !errors.Is(err, ErrNotLoopback) || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("error %v does not say why", err)
		}
	}
}

func TestStartReleasesListenerOnControlError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().String()
	_ = ln.Close()
	if _, err := Start(Config{Listen: port, Control: "8.8.8.8:0"}); err == nil {
		t.Fatal("Start succeeded")
	}
	// The registry listener was closed again: the port can be rebound.
	ln, err = net.Listen("tcp", port)
	if err != nil {
		t.Fatalf("port still held: %v", err)
	}
	_ = ln.Close()
}

func TestAddrFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "addrs.json")
	in, err := Start(Config{Listen: "127.0.0.1:0", Control: "127.0.0.1:0", AddrFile: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := WaitAddrFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if a != in.Addrs() || strings.HasSuffix(a.Listen, ":0") || strings.HasSuffix(a.Control, ":0") || a.Listen == a.Control {
		t.Errorf("addr file %+v, instance %+v", a, in.Addrs())
	}
	if err := Health(ctx, a.ControlURL()); err != nil {
		t.Errorf("control from addr file: %v", err)
	}
	if code, _ := get(t, a.ListenURL()+"/fhir/metadata"); code != 200 {
		t.Errorf("registry from addr file: %d", code)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := in.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("addr file still there after shutdown: %v", err)
	}
}

func TestShutdownReleasesDelayedRequests(t *testing.T) {
	in, err := Start(Config{Listen: "127.0.0.1:0", Control: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Registry().DelayNext(MaxDelay, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := controlClient.Get(in.Addrs().ListenURL() + "/fhir/metadata")
		if err == nil {
			resp.Body.Close()
		}
	}()
	// Wait until the request is parked.
	for deadline := time.Now().Add(5 * time.Second); len(in.Registry().Records(0)) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("request never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(t.TempDir(), "a.json")
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, Config{Listen: "127.0.0.1:0", Control: "127.0.0.1:0", AddrFile: path}) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if _, err := WaitAddrFile(wctx, path); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}
