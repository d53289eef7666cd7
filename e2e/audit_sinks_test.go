package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crgate/crgate/internal/testpeer"
)

// sinksCaddyfile is the development Caddyfile's shape with all three
// audit sinks: the file sink, a FHIR server and an RFC 5425 syslog
// collector (both real, started by the test).
const sinksCaddyfile = `{
	admin 127.0.0.1:{$CRGATE_ADMIN_PORT}
	persist_config off
	auto_https off
	servers {
		protocols h1 h2
		strict_sni_host on
		listener_wrappers {
			handshake_audit
		}
	}
	metrics
	node_registry {
		clients {$CRGATE_CERTS}/clients.json
		crl {$CRGATE_CERTS}/ca.crl
		reload_interval 100ms
	}
	audit {
		spool {$CRGATE_AUDIT_DIR}/spool
		durability sync
		site crgate-e2e
		retry 50ms 500ms
		sink file {$CRGATE_AUDIT_DIR}/audit.jsonl
		sink fhir {$E2E_FHIR_BASE} {
			batch_size 40
			timeout 5s
			dead_letter {$CRGATE_AUDIT_DIR}/fhir-dead.jsonl
		}
		sink syslog tls://{$E2E_SYSLOG_ADDR} {
			tls_cert {$E2E_SYSLOG_CERT}
			tls_key {$E2E_SYSLOG_KEY}
			ca {$E2E_SYSLOG_CA}
			server_name localhost
			hostname crgate-e2e
			dead_letter {$CRGATE_AUDIT_DIR}/syslog-dead.jsonl
		}
	}
}

https://:{$CRGATE_REGISTRY_PORT} {
	tls {$CRGATE_CERTS}/server.crt {$CRGATE_CERTS}/server.key {
		protocols tls1.2 tls1.3
		client_auth {
			mode require_and_verify
			trust_pool file {$CRGATE_CERTS}/ca.crt
			verifier node_registry
		}
	}
	audit
	node_auth
	fhir_guard
	reverse_proxy {$CRGATE_UPSTREAM}
}
`

// fileEvent is one event line of the file sink: its AuditEvent bytes
// exactly as the spool handed them to every sink.
type fileEvent struct {
	id  string
	raw []byte
}

func fileSinkEvents(t testing.TB, path string) []fileEvent {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []fileEvent
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var line struct {
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if line.Event == nil {
			continue // a checkpoint
		}
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(line.Event, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, fileEvent{id: ev.ID, raw: line.Event})
	}
	return out
}

// syslogHeader is what crgate puts before the AuditEvent JSON.
var syslogHeader = regexp.MustCompile(`^<85>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) crgate-e2e crgate \d+ AuditEvent - `)

// checkSyslogMatchesFile asserts that rsyslog received exactly the file
// sink's events, in the same order, each MSG byte-exact, each timestamp
// the event's recorded time.
func checkSyslogMatchesFile(t *testing.T, msgs [][]byte, evs []fileEvent) {
	t.Helper()
	msgs = firstOccurrences(t, msgs)
	if len(msgs) != len(evs) {
		t.Fatalf("rsyslog has %d messages, the file sink %d events", len(msgs), len(evs))
	}
	for i, m := range msgs {
		h := syslogHeader.FindSubmatch(m)
		if h == nil {
			t.Fatalf("message %d: header %.120q does not match", i, m)
		}
		if body := m[len(h[0]):]; !bytes.Equal(body, evs[i].raw) {
			t.Fatalf("message %d: MSG differs from the file sink's event %s:\n%.300q\n%.300q", i, evs[i].id, body, evs[i].raw)
		}
		var ev struct {
			Recorded time.Time `json:"recorded"`
		}
		if err := json.Unmarshal(evs[i].raw, &ev); err != nil {
			t.Fatal(err)
		}
		ts, err := time.Parse(time.RFC3339Nano, string(h[1]))
		if err != nil || !ts.Equal(ev.Recorded.Truncate(time.Microsecond)) {
			t.Fatalf("message %d: TIMESTAMP %s, event recorded %s", i, h[1], ev.Recorded)
		}
	}
}

// firstOccurrences drops messages that repeat an earlier one: delivery
// is at-least-once, and a batch the sink could not confirm (the collector
// went away during it) is sent again. A repeat is only allowed as a resend
// of recent messages, so it must equal one of the last few hundred.
func firstOccurrences(t *testing.T, msgs [][]byte) [][]byte {
	t.Helper()
	var out [][]byte
	seen := map[string]int{}
	for i, m := range msgs {
		if j, dup := seen[string(m)]; dup {
			if i-j > 2048 {
				t.Fatalf("message %d repeats message %d, far beyond any resent batch", i, j)
			}
			continue
		}
		seen[string(m)] = i
		out = append(out, m)
	}
	return out
}

// checkFHIRMatchesFile asserts that the FHIR server holds every event of
// the file sink exactly once, as sent (the server adds meta only).
func checkFHIRMatchesFile(t *testing.T, fhir *testpeer.FHIR, evs []fileEvent) {
	t.Helper()
	stored := map[string]json.RawMessage{}
	for _, r := range fhir.Search("_count=5000") {
		var v struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(r, &v)
		if _, dup := stored[v.ID]; dup {
			t.Fatalf("AuditEvent/%s stored twice", v.ID)
		}
		stored[v.ID] = r
	}
	if len(stored) != len(evs) {
		t.Fatalf("the FHIR server holds %d AuditEvents, the file sink %d", len(stored), len(evs))
	}
	for _, ev := range evs {
		r, ok := stored[ev.id]
		if !ok {
			t.Fatalf("AuditEvent/%s missing at the FHIR server", ev.id)
		}
		if !sameResource(t, r, ev.raw) {
			t.Fatalf("AuditEvent/%s stored differs:\n%s\n%s", ev.id, r, ev.raw)
		}
	}
}

func sameResource(t *testing.T, stored, sent []byte) bool {
	var a, b map[string]any
	if err := json.Unmarshal(stored, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(sent, &b); err != nil {
		t.Fatal(err)
	}
	delete(a, "meta")
	delete(b, "meta")
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestAuditSinksDeliverEverything runs one gateway with the file, FHIR
// and syslog sinks against rsyslog and a FHIR server.
func TestAuditSinksDeliverEverything(t *testing.T) {
	t.Parallel()
	pki := testpeer.NewPKI(t, t.TempDir())
	rs := testpeer.StartRsyslog(t, pki, testpeer.RsyslogOptions{})
	fhir := testpeer.StartFHIR(t, testpeer.FHIROptions{})
	cf := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cf, []byte(sinksCaddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, gatewayOptions{caddyfile: cf, env: map[string]string{
		"E2E_FHIR_BASE":   fhir.Base,
		"E2E_SYSLOG_ADDR": rs.Addr(),
		"E2E_SYSLOG_CERT": pki.ClientCert,
		"E2E_SYSLOG_KEY":  pki.ClientKey,
		"E2E_SYSLOG_CA":   pki.CAFile,
	}})

	// allDelivered waits until the file sink has at least n events and
	// both other sinks hold as many as the file sink, then checks them.
	allDelivered := func(t *testing.T, n int) []fileEvent {
		t.Helper()
		var evs []fileEvent
		waitFor(t, fmt.Sprintf("%d events in the file sink", n), 30*time.Second, func() bool {
			evs = fileSinkEvents(t, g.auditFile())
			return len(evs) >= n
		})
		// Nothing is in flight any more (the requests are answered, the
		// handshakes refused and recorded): the file count is final.
		evs = fileSinkEvents(t, g.auditFile())
		msgs := rs.WaitMessages(len(evs), 60*time.Second)
		waitFor(t, "the FHIR server to hold every event", 60*time.Second, func() bool {
			return len(fhir.Search("_count=5000&_elements=id")) >= len(evs)
		})
		checkSyslogMatchesFile(t, msgs, evs)
		checkFHIRMatchesFile(t, fhir, evs)
		for _, f := range []string{"fhir-dead.jsonl", "syslog-dead.jsonl"} {
			if b, err := os.ReadFile(filepath.Join(g.auditDir(), f)); err == nil && len(b) > 0 {
				t.Fatalf("%s is not empty: an event was refused:\n%.2000s", f, b)
			}
		}
		return evs
	}

	t.Run("mix", func(t *testing.T) {
		alpha := g.client(t, "alpha")
		for i, path := range []string{"/fhir/Patient/p-0001", "/fhir/Patient?_count=2", "/fhir/Patient?identifier=urn:oid:1.2|X-7&_count=1", "/fhir/Patient/p-0002"} {
			if st, _, err := get(alpha, g.url(path), withRequestID(fmt.Sprintf("sinks-%d", i))); err != nil || st != 200 {
				t.Fatalf("GET %s: %d %v", path, st, err)
			}
		}
		// Refused by node_auth (disabled node) and in the handshake
		// (a certificate of no registered node).
		if resp, err := g.client(t, "charlie").Get(g.url("/fhir/Patient/p-0001")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatal("a disabled node got an answer")
			}
		}
		if _, err := g.client(t, "stranger").Get(g.url("/fhir/Patient/p-0001")); err == nil {
			t.Fatal("an unregistered node got an answer")
		}
		evs := allDelivered(t, 7) // start + 4 requests + 2 refusals
		// ITI-81-style queries at the FHIR server find exactly the events
		// they name: the security alerts, and node alpha's requests by its
		// certificate fingerprint (AuditEvent.agent.altId).
		var alerts, alphas []string
		alphaFP := ""
		for _, e := range evs {
			var ev struct {
				Type  struct{ Code string }
				Agent []struct {
					AltID string `json:"altId"`
					Who   *struct{ Identifier *struct{ Value string } }
				}
			}
			if err := json.Unmarshal(e.raw, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Type.Code == "110113" {
				alerts = append(alerts, e.id)
			}
			for _, a := range ev.Agent {
				if a.Who != nil && a.Who.Identifier != nil && a.Who.Identifier.Value == "alpha" {
					alphas = append(alphas, e.id)
					alphaFP = a.AltID
				}
			}
		}
		if len(alerts) != 2 || len(alphas) != 4 || alphaFP == "" {
			t.Fatalf("file sink: %d security alerts and %d alpha requests, want 2 and 4", len(alerts), len(alphas))
		}
		// The sinks' own metrics are served with the gateway's.
		m := g.metrics(t)
		for _, want := range []string{"crgate_audit_syslog_messages_total ", `crgate_audit_fhir_bundles_total{result="ok"} `, `crgate_audit_syslog_connects_total{result="ok"} `} {
			if !strings.Contains(m, want) {
				t.Fatalf("metrics lack %s", want)
			}
		}
		if strings.Contains(m, "dead_letters_total{") {
			t.Fatal("a dead-letter counter moved")
		}
		expectSearch(t, fhir, "type=http://dicom.nema.org/resources/ontology/DCM|110113", alerts)
		expectSearch(t, fhir, "altid="+url.QueryEscape(alphaFP), alphas)
	})

	t.Run("syslog-collector-restart", func(t *testing.T) {
		before := len(fileSinkEvents(t, g.auditFile()))
		rs.Stop()
		c := g.client(t, "alpha")
		for i := range 20 {
			if st, _, err := get(c, g.url(fmt.Sprintf("/fhir/Patient/p-%04d", 1+i%5)), nil); err != nil || st != 200 {
				t.Fatalf("request while the collector is down: %d %v", st, err)
			}
		}
		waitFor(t, "the syslog sink's failures to be logged", 20*time.Second, func() bool {
			return g.logged("audit sink delivery failed", `"sink":"syslog"`)
		})
		rs.Start()
		allDelivered(t, before+20)
	})

	t.Run("fhir-down-under-load", func(t *testing.T) {
		before := len(fileSinkEvents(t, g.auditFile()))
		fhir.Down()
		// Bounded load while the FHIR server is down: 4 clients, 50
		// requests each, 60 s at most.
		const workers, each = 4, 50
		var answered atomic.Int64
		var wg sync.WaitGroup
		deadline := time.Now().Add(60 * time.Second)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := g.client(t, "bravo")
				for i := 0; i < each && time.Now().Before(deadline); i++ {
					st, _, err := get(c, g.url(fmt.Sprintf("/fhir/Patient/p-%04d", 1+(w*each+i)%5)), nil)
					if err == nil && st == http.StatusOK {
						answered.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if answered.Load() != workers*each {
			t.Fatalf("%d of %d requests answered", answered.Load(), workers*each)
		}
		// While it is down, the FHIR sink falls behind (the gateway keeps
		// serving), its failures show, and the other sinks keep up.
		waitFor(t, "the FHIR sink's failures to be logged", 20*time.Second, func() bool {
			return g.logged("audit sink delivery failed", `"sink":"fhir"`, "connection refused")
		})
		if !pendingAbove(t, g, "fhir", 0) {
			t.Fatal("crgate_audit_events_pending{sink=\"fhir\"} is 0 while the FHIR server is down")
		}
		rs.WaitMessages(before+workers*each, 60*time.Second)
		fhir.Up()
		allDelivered(t, before+workers*each)
	})
}

// TestAuditSinksRefuseUnsafeConfig: the real binary refuses to start
// with a sink configuration that would leak audit data or secrets, and
// says which field is wrong.
func TestAuditSinksRefuseUnsafeConfig(t *testing.T) {
	t.Parallel()
	fhirBlock := "sink fhir {$E2E_FHIR_BASE} {\n\t\t\tbatch_size 40"
	tests := []struct {
		name, replace, want string
	}{
		{"fail/fhir-cleartext-to-network", "sink fhir http://audit.example/fhir {\n\t\t\tbatch_size 40", "url: http is allowed only to a loopback"},
		{"fail/fhir-inline-password", fhirBlock + "\n\t\t\tbasic_user a\n\t\t\tbasic_password hunter2", "basic_password: must be an environment placeholder"},
		{"fail/syslog-over-udp", "sink syslog udp://{$E2E_SYSLOG_ADDR} {", "only tls://"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := sinksCaddyfile
			if strings.HasPrefix(tc.replace, "sink syslog") {
				cfg = strings.Replace(cfg, "sink syslog tls://{$E2E_SYSLOG_ADDR} {", tc.replace, 1)
			} else {
				cfg = strings.Replace(cfg, fhirBlock, tc.replace, 1)
			}
			if cfg == sinksCaddyfile {
				t.Fatal("the template did not change")
			}
			cf := filepath.Join(t.TempDir(), "Caddyfile")
			if err := os.WriteFile(cf, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := runGatewayToExit(t, gatewayOptions{caddyfile: cf, env: map[string]string{
				"E2E_FHIR_BASE": "http://127.0.0.1:1/fhir", "E2E_SYSLOG_ADDR": "127.0.0.1:1",
				"E2E_SYSLOG_CERT": "/nonexistent", "E2E_SYSLOG_KEY": "/nonexistent", "E2E_SYSLOG_CA": "/nonexistent",
			}})
			if err == nil {
				t.Fatalf("crgate started:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("crgate's refusal does not say %q:\n%s", tc.want, fatalMessage(out))
			}
			if strings.Contains(out, "hunter2") {
				t.Fatal("crgate printed the inline password")
			}
		})
	}
}

// expectSearch asserts that GET [base]/AuditEvent?query returns exactly
// the events ids.
func expectSearch(t *testing.T, fhir *testpeer.FHIR, query string, ids []string) {
	t.Helper()
	var got []string
	for _, r := range fhir.Search(query + "&_count=5000") {
		var v struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(r, &v)
		got = append(got, v.ID)
	}
	want := slices.Clone(ids)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("AuditEvent?%s = %v, want %v", query, got, want)
	}
}

// pendingAbove reports whether the gateway's pending-events gauge for a
// sink exceeds v.
func pendingAbove(t *testing.T, g *gateway, sink string, v float64) bool {
	for _, line := range strings.Split(g.metrics(t), "\n") {
		if rest, ok := strings.CutPrefix(line, `crgate_audit_events_pending{sink="`+sink+`"} `); ok {
			var f float64
			if _, err := fmt.Sscan(rest, &f); err == nil {
				return f > v
			}
		}
	}
	return false
}
