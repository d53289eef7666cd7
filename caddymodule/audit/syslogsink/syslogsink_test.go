package syslogsink

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/testpeer"
)

func provisioned(t *testing.T, s *Sink) (*Sink, *observer.ObservedLogs) {
	t.Helper()
	if s.DeadLetterFile == "" {
		s.DeadLetterFile = filepath.Join(t.TempDir(), "dead.jsonl")
	}
	testpeer.Provision(t, s)
	core, logs := observer.New(zap.DebugLevel)
	s.logger = zap.New(core)
	return s, logs
}

// message is the syslog message (no length prefix) s must send for ev.
func message(s *Sink, ev auditsink.Event) []byte {
	return fmt.Appendf(nil, "<%d>1 %s %s %s %s %s - %s%s", *s.Facility*8+*s.Severity,
		ev.Recorded.UTC().Format("2006-01-02T15:04:05.000000Z"), s.Hostname, s.AppName, s.ProcID, s.MsgID,
		map[bool]string{true: "\uFEFF"}[s.BOM], ev.JSON)
}

func TestFrame(t *testing.T) {
	ev := testpeer.AuditEvent(t, 1, "p", 0)
	ev.Recorded = time.Date(2026, 11, 23, 17, 4, 5, 123456789, time.FixedZone("x", 3600))
	tests := []struct {
		name string
		sink Sink
		ev   auditsink.Event
		want string // message without LEN SP; %s is the event JSON
	}{
		{"ok/defaults", Sink{Hostname: "gw1", ProcID: "42"}, ev, "<85>1 2026-11-23T16:04:05.123456Z gw1 crgate 42 AuditEvent - %s"},
		{"ok/pri-and-names", Sink{Facility: intPtr(4), Severity: intPtr(2), Hostname: "gw1", AppName: "a", ProcID: "p", MsgID: "IHE+FHIR"}, ev, "<34>1 2026-11-23T16:04:05.123456Z gw1 a p IHE+FHIR - %s"},
		{"ok/facility-zero", Sink{Facility: intPtr(0), Severity: intPtr(0), Hostname: "h", ProcID: "1"}, ev, "<0>1 2026-11-23T16:04:05.123456Z h crgate 1 AuditEvent - %s"},
		{"ok/bom", Sink{Hostname: "gw1", ProcID: "42", BOM: true}, ev, "<85>1 2026-11-23T16:04:05.123456Z gw1 crgate 42 AuditEvent - \uFEFF%s"},
		{"ok/no-time", Sink{Hostname: "gw1", ProcID: "42"}, auditsink.Event{ID: "x", JSON: []byte(`{}`)}, "<85>1 - gw1 crgate 42 AuditEvent - %s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sk := tc.sink
			sk.Address = "127.0.0.1:6514"
			s, _ := provisioned(t, &sk)
			frame := string(s.frame(nil, tc.ev))
			lenStr, msg, ok := strings.Cut(frame, " ")
			if !ok {
				t.Fatalf("no SP in frame %q", frame)
			}
			if want := fmt.Sprintf(tc.want, tc.ev.JSON); msg != want {
				t.Fatalf("message\n%q\nwant\n%q", msg, want)
			}
			// LEN counts octets, not characters (the event holds non-ASCII).
			if lenStr != fmt.Sprint(len(msg)) {
				t.Fatalf("LEN %s for a message of %d octets", lenStr, len(msg))
			}
			if tc.name == "ok/defaults" && utf8.RuneCountInString(msg) == len(msg) {
				t.Fatal("the test event has no multi-byte characters; LEN is not being tested")
			}
		})
	}
}

func TestConfigRefused(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sink Sink
		want string
	}{
		{"fail/no-address", Sink{}, "address: required"},
		{"fail/no-port", Sink{Address: "audit.example"}, "address:"},
		{"fail/bad-port", Sink{Address: "audit.example:99999"}, "address: port"},
		{"fail/facility", Sink{Address: "a:1", Facility: intPtr(24)}, "facility: 24"},
		{"fail/severity", Sink{Address: "a:1", Severity: intPtr(-1)}, "severity: -1"},
		{"fail/hostname-space", Sink{Address: "a:1", Hostname: "my host"}, "hostname:"},
		{"fail/msgid-too-long", Sink{Address: "a:1", MsgID: strings.Repeat("m", 33)}, "msgid:"},
		{"fail/app-name-non-ascii", Sink{Address: "a:1", AppName: "crgäte"}, "app_name:"},
		{"fail/max-too-small", Sink{Address: "a:1", MaxMessageSize: 1000}, "max_message_size:"},
		{"fail/max-too-big", Sink{Address: "a:1", MaxMessageSize: 2 << 20}, "max_message_size:"},
		{"fail/cert-without-key", Sink{Address: "a:1", TLSCertFile: junk}, "tls_key: required"},
		{"fail/bad-ca", Sink{Address: "a:1", CAFile: junk}, "ca:"},
		{"fail/dead-letter-dir", Sink{Address: "a:1", DeadLetterFile: dir}, "dead_letter:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sk := tc.sink
			if sk.DeadLetterFile == "" {
				sk.DeadLetterFile = filepath.Join(t.TempDir(), "d")
			}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := sk.Provision(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  Sink
		err   string
	}{
		{"ok/tls-url", `syslog tls://audit.example:6515`, Sink{Address: "audit.example:6515"}, ""},
		{"ok/default-port", `syslog tls://audit.example`, Sink{Address: "audit.example:6514"}, ""},
		{"ok/ipv6", `syslog tls://[::1]:7000`, Sink{Address: "[::1]:7000"}, ""},
		{"ok/bare", `syslog 127.0.0.1:6514`, Sink{Address: "127.0.0.1:6514"}, ""},
		{"ok/full", `syslog tls://a.example {
			tls_cert c.crt
			tls_key c.key
			ca ca.crt
			server_name collector.example
			facility 0
			severity 6
			hostname gw1
			app_name crgate
			procid 7
			msgid IHE+FHIR
			bom
			max_message_size 65536
			dial_timeout 2s
			write_timeout 5s
			dead_letter /var/lib/d.jsonl
		}`, Sink{Address: "a.example:6514", TLSCertFile: "c.crt", TLSKeyFile: "c.key", CAFile: "ca.crt", ServerName: "collector.example",
			Facility: intPtr(0), Severity: intPtr(6), Hostname: "gw1", AppName: "crgate", ProcID: "7", MsgID: "IHE+FHIR", BOM: true,
			MaxMessageSize: 65536, DialTimeout: caddy.Duration(2e9), WriteTimeout: caddy.Duration(5e9), DeadLetterFile: "/var/lib/d.jsonl"}, ""},
		{"fail/udp", `syslog udp://a.example:514`, Sink{}, `only tls://`},
		{"fail/tcp", `syslog tcp://a.example:514`, Sink{}, `only tls://`},
		{"fail/no-address", `syslog`, Sink{}, "address (tls://host:port) is required"},
		{"fail/unknown", "syslog tls://a {\n verify off\n}", Sink{}, `unrecognized subdirective "verify"`},
		{"fail/facility-word", "syslog tls://a {\n facility authpriv\n}", Sink{}, "facility: want a number"},
		{"fail/facility-twice", "syslog tls://a {\n facility 1\n facility 2\n}", Sink{}, "facility: given twice"},
		{"fail/bom-arg", "syslog tls://a {\n bom yes\n}", Sink{}, "wrong argument count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testpeer.Unmarshal(t, new(Sink), tc.input, tc.want, tc.err)
		})
	}
}

// TestTLSPolicy: the sink speaks TLS ≥ 1.2 only and verifies the
// collector's chain and name, against Go TLS listeners configured to
// break each rule.
func TestTLSPolicy(t *testing.T) {
	dir := t.TempDir()
	pki := testpeer.NewPKI(t, dir)
	other := testpeer.NewPKI(t, t.TempDir())
	serve := func(t *testing.T, cfg *tls.Config) string {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { _ = c.(*tls.Conn).Handshake(); time.Sleep(time.Second); _ = c.Close() }()
			}
		}()
		return ln.Addr().String()
	}
	cert := func(p *testpeer.PKI) tls.Certificate {
		c, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name       string
		server     *tls.Config
		serverName string
		want       string
	}{
		{"fail/tls1.1", &tls.Config{Certificates: []tls.Certificate{cert(pki)}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, "", "protocol version"},
		{"fail/untrusted-ca", &tls.Config{Certificates: []tls.Certificate{cert(other)}}, "", "certificate"},
		{"fail/wrong-name", &tls.Config{Certificates: []tls.Certificate{cert(pki)}}, "collector.example", "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, tc.server)
			s, _ := provisioned(t, &Sink{Address: addr, CAFile: pki.CAFile, ServerName: tc.serverName,
				TLSCertFile: pki.ClientCert, TLSKeyFile: pki.ClientKey, DialTimeout: caddy.Duration(5 * time.Second)})
			n, err := s.Deliver(context.Background(), []auditsink.Event{testpeer.AuditEvent(t, 1, "p", 0)})
			if n != 0 || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Deliver = %d, %v; want 0 and an error about %q", n, err, tc.want)
			}
		})
	}
}

// tlsCollector is a TLS listener on loopback with a certificate of a new
// PKI (the sink must trust pki.CAFile and name "localhost"), closed at
// the test's end.
func tlsCollector(t *testing.T) (*testpeer.PKI, net.Listener) {
	t.Helper()
	pki := testpeer.NewPKI(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return pki, ln
}

// TestDeliverStopsWhenContextEnds: a collector that accepts but never
// reads must not hold Deliver (and so the gateway's stop) until the write
// timeout.
func TestDeliverStopsWhenContextEnds(t *testing.T) {
	pki, ln := tlsCollector(t)
	held := make(chan struct{})
	defer close(held)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.(*tls.Conn).Handshake()
		<-held // never reads
		_ = c.Close()
	}()
	s, _ := provisioned(t, &Sink{Address: ln.Addr().String(), CAFile: pki.CAFile, ServerName: "localhost",
		MaxMessageSize: 64 << 10, WriteTimeout: caddy.Duration(time.Hour)})
	var evs []auditsink.Event
	for i := range 600 { // ~24 MB: more than the loopback socket buffers hold
		evs = append(evs, testpeer.AuditEvent(t, uint64(i+1), "p", 30<<10))
	}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.Deliver(ctx, evs)
		done <- result{n, err}
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("Deliver returned %d, %v before the collector read anything", r.n, r.err)
	default:
	}
	cancel()
	select {
	case r := <-done:
		if r.err == nil || r.n == len(evs) {
			t.Fatalf("Deliver = %d, %v; want an error and not all delivered", r.n, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Deliver did not return after its context ended")
	}
}

// TestDeliverKeepsNoEventMemory: events are valid only until Deliver
// returns (the app reuses their memory for the next batch); the collector
// must get every message as the events were handed over.
func TestDeliverKeepsNoEventMemory(t *testing.T) {
	pki, ln := tlsCollector(t)
	s, _ := provisioned(t, &Sink{Address: ln.Addr().String(), CAFile: pki.CAFile, ServerName: "localhost"})
	var evs []auditsink.Event
	var want bytes.Buffer
	for i := range 12 {
		ev := testpeer.AuditEvent(t, uint64(i+1), fmt.Sprint("p", i), 0)
		ev.Record = &auditrec.Record{ID: ev.ID, Time: ev.Recorded, URI: "/fhir/Patient/p"}
		evs = append(evs, ev)
		m := message(s, ev)
		fmt.Fprintf(&want, "%d %s", len(m), m)
	}
	got := make(chan []byte, 1)
	held := make(chan struct{}) // the connection stays open until the end
	defer close(held)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second)) // a hang guard only
		buf := make([]byte, want.Len())
		n, _ := io.ReadFull(c, buf)
		got <- buf[:n]
		<-held
	}()
	testpeer.DeliverBorrowed(t, s, evs[:5], evs[5:9], evs[9:])
	if b := <-got; !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("the collector got\n%s\nwant\n%s", b, want.Bytes())
	}
}
