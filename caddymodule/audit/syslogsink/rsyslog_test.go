package syslogsink

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/testpeer"
)

// Tests against a real RFC 5425 receiver: rsyslog from Debian, started by
// the test with mutual TLS (x509/name) and writing each message's raw
// bytes to a file.

func rsyslogSink(t *testing.T, driver string, extra Sink) (*testpeer.Rsyslog, *Sink) {
	t.Helper()
	pki := testpeer.NewPKI(t, t.TempDir())
	r := testpeer.StartRsyslog(t, pki, testpeer.RsyslogOptions{Driver: driver})
	sk := extra
	sk.Address = r.Addr()
	sk.CAFile = pki.CAFile
	sk.ServerName = "localhost"
	sk.TLSCertFile, sk.TLSKeyFile = pki.ClientCert, pki.ClientKey
	s, _ := provisioned(t, &sk)
	return r, s
}

// deliverAll delivers evs in app-sized batches, retrying as the app does,
// and fails the test if it cannot within a few tries.
func deliverAll(t *testing.T, s *Sink, evs []auditsink.Event, batch int) {
	t.Helper()
	for n, tries := 0, 0; n < len(evs); tries++ {
		if tries > 20 {
			t.Fatalf("delivered %d of %d after %d tries", n, len(evs), tries)
		}
		end := min(len(evs), n+batch)
		k, err := s.Deliver(context.Background(), evs[n:end])
		n += k
		if err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// expectReceived waits for exactly the messages of want (a sentinel event
// is sent last, so "exactly" is checked, not only "at least").
func expectReceived(t *testing.T, r *testpeer.Rsyslog, s *Sink, want []auditsink.Event) {
	t.Helper()
	sentinel := testpeer.AuditEvent(t, 1<<40, "sentinel", 0)
	deliverAll(t, s, []auditsink.Event{sentinel}, 1)
	got := r.WaitMessages(len(want)+1, 60*time.Second)
	if len(got) != len(want)+1 {
		t.Fatalf("rsyslog received %d messages, want %d and the sentinel", len(got), len(want))
	}
	for i, ev := range append(want, sentinel) {
		if exp := message(s, ev); !bytes.Equal(got[i], exp) {
			t.Fatalf("message %d (seq %d) differs:\n got %.200q…\nwant %.200q…", i, ev.Seq, got[i], exp)
		}
		// And its MSG is the AuditEvent JSON, byte for byte.
		if !bytes.HasSuffix(got[i], ev.JSON) {
			t.Fatalf("message %d does not end in the event's JSON", i)
		}
	}
}

func TestRsyslogReceivesEveryEventByteExact(t *testing.T) {
	for _, driver := range []string{"gtls", "ossl"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			r, s := rsyslogSink(t, driver, Sink{Hostname: "gw-test", ProcID: "4242"})
			var evs []auditsink.Event
			for i := range 120 {
				evs = append(evs, testpeer.AuditEvent(t, uint64(i+1), "pat-"+string(rune('a'+i%26)), i*7))
			}
			// One at exactly max_message_size, one a byte over.
			head := len(message(s, auditsink.Event{Recorded: evs[0].Recorded}))
			atLimit := testpeer.AuditEventSized(t, 121, "big", s.MaxMessageSize-head)
			over := testpeer.AuditEventSized(t, 122, "bigger", s.MaxMessageSize-head+1)
			if l := len(message(s, atLimit)); l != s.MaxMessageSize {
				t.Fatalf("test event of %d octets, want %d", l, s.MaxMessageSize)
			}
			// A client-controlled value that tries to start a message of its
			// own: JSON escapes the line break and octet counting frames the
			// whole event, so it stays inside one message.
			injection := testpeer.AuditEvent(t, 123, "x\n27 <85>1 - evil - - - - injected\r\n", 0)
			evs = append(evs, atLimit, over, injection, testpeer.AuditEvent(t, 124, "after", 0))
			deliverAll(t, s, evs, 25)

			var want []auditsink.Event
			for _, ev := range evs {
				if ev.ID != over.ID {
					want = append(want, ev)
				}
			}
			expectReceived(t, r, s, want)
			dead := testpeer.DeadLetters(t, s.DeadLetterFile)
			if len(dead) != 1 || dead[0].ID != over.ID || !bytes.Equal(dead[0].Event, over.JSON) {
				t.Fatalf("dead letters = %d, want the oversized event", len(dead))
			}
		})
	}
}

func TestRsyslogWithBOM(t *testing.T) {
	t.Parallel()
	pki := testpeer.NewPKI(t, t.TempDir())
	r := testpeer.StartRsyslog(t, pki, testpeer.RsyslogOptions{})
	s, _ := provisioned(t, &Sink{Address: r.Addr(), CAFile: pki.CAFile, TLSCertFile: pki.ClientCert, TLSKeyFile: pki.ClientKey, BOM: true, Hostname: "h", ProcID: "1"})
	evs := []auditsink.Event{testpeer.AuditEvent(t, 1, "p", 0), testpeer.AuditEvent(t, 2, "q", 0)}
	deliverAll(t, s, evs, 10)
	expectReceived(t, r, s, evs)
}

func TestRsyslogRestartDeliversTheRest(t *testing.T) {
	t.Parallel()
	r, s := rsyslogSink(t, "gtls", Sink{Hostname: "gw", ProcID: "1"})
	var evs []auditsink.Event
	for i := range 60 {
		evs = append(evs, testpeer.AuditEvent(t, uint64(i+1), "p", 0))
	}
	deliverAll(t, s, evs[:20], 10)
	r.WaitMessages(20, 30*time.Second)

	// The collector restarts while the sink's connection is idle: the
	// next batch must not be written into the dead connection.
	// One small message first: it fits in a single write, which the
	// kernel accepts even on a connection the peer has closed, so only the
	// probe can tell.
	r.Stop()
	for _, batch := range [][]auditsink.Event{evs[20:21], evs[20:40]} {
		n, err := s.Deliver(context.Background(), batch)
		if n != 0 || err == nil {
			t.Fatalf("Deliver of %d while rsyslog is down = %d, %v; want 0 and an error", len(batch), n, err)
		}
	}
	r.Start()
	deliverAll(t, s, evs[20:], 10)
	expectReceived(t, r, s, evs)
}

func TestRsyslogRefusesClientWithoutCertificate(t *testing.T) {
	t.Parallel()
	pki := testpeer.NewPKI(t, t.TempDir())
	r := testpeer.StartRsyslog(t, pki, testpeer.RsyslogOptions{})
	s, _ := provisioned(t, &Sink{Address: r.Addr(), CAFile: pki.CAFile})
	// rsyslog refuses the missing certificate after the handshake, by
	// closing. The sink must notice (connect probe, or the pre-batch probe
	// of the next try) and not count the events delivered.
	var errs int
	for range 5 {
		n, err := s.Deliver(context.Background(), []auditsink.Event{testpeer.AuditEvent(t, 1, "p", 0)})
		if err != nil {
			errs++
		}
		if n != 0 {
			t.Logf("an event counted delivered into a refused connection (the documented residual risk)")
		}
	}
	if errs == 0 {
		t.Fatal("no Deliver failed against a collector that refuses the client")
	}
	time.Sleep(200 * time.Millisecond)
	if got := len(r.Messages()); got != 0 {
		t.Fatalf("rsyslog stored %d messages from an unauthenticated client", got)
	}
}
