package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/crgate/crgate/examples/registry-sim/sim"
)

// auditEvent is the part of a FHIR AuditEvent the tests look at.
type auditEvent struct {
	raw         json.RawMessage
	ResourceTyp string `json:"resourceType"`
	ID          string `json:"id"`
	Outcome     string `json:"outcome"`
	OutcomeDesc string `json:"outcomeDesc"`
	Action      string `json:"action"`
	Type        struct{ Code string }
	Subtype     []struct{ Code string }
	Agent       []struct {
		Who *struct {
			Display    string
			Identifier *struct{ Value string }
		}
		Network *struct{ Address string }
	}
	Entity []struct {
		Type *struct{ Code string }
		What *struct {
			Reference  string
			Identifier *struct{ Value string }
		}
	}
}

func (e *auditEvent) codes() string {
	s := e.Type.Code
	for _, st := range e.Subtype {
		s += "/" + st.Code
	}
	return s
}

// requestID is the event's X-Request-Id entity.
func (e *auditEvent) requestID() string {
	for _, en := range e.Entity {
		if en.Type != nil && en.Type.Code == "XrequestId" && en.What != nil && en.What.Identifier != nil {
			return en.What.Identifier.Value
		}
	}
	return ""
}

// nodeID is the requesting node's registered id, if the event names one.
func (e *auditEvent) nodeID() string {
	for _, a := range e.Agent {
		if a.Who != nil && a.Who.Identifier != nil && !strings.HasPrefix(a.Who.Display, "crgate") {
			return a.Who.Identifier.Value
		}
	}
	return ""
}

func (g *gateway) auditDir() string  { return filepath.Join(g.certs, "audit") }
func (g *gateway) auditFile() string { return filepath.Join(g.auditDir(), "audit.jsonl") }

// auditEvents reads the gateway's audit file: every event line, in order.
func auditEvents(t testing.TB, path string) []auditEvent {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	// A running gateway may be in the middle of appending: a last line
	// without its newline is not written yet (the gateway writes whole
	// lines and cuts a crash-torn tail when it opens the file). Every
	// complete line must parse.
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	var out []auditEvent
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Seq   uint64
			Event json.RawMessage
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if line.Event == nil {
			continue // a checkpoint
		}
		ev := auditEvent{raw: line.Event}
		if err := json.Unmarshal(line.Event, &ev); err != nil {
			t.Fatalf("audit event %s: %v", line.Event, err)
		}
		out = append(out, ev)
	}
	return out
}

// requestEvents returns the events that are not application start/stop.
func requestEvents(evs []auditEvent) []auditEvent {
	var out []auditEvent
	for _, e := range evs {
		if e.Type.Code != "110100" {
			out = append(out, e)
		}
	}
	return out
}

// waitAuditEvents waits until the audit file holds at least n events
// besides application start/stop, and returns them.
func waitAuditEvents(t testing.TB, g *gateway, n int) []auditEvent {
	t.Helper()
	var evs []auditEvent
	waitFor(t, fmt.Sprintf("%d audit events", n), 20*time.Second, func() bool {
		evs = requestEvents(auditEvents(t, g.auditFile()))
		return len(evs) >= n
	})
	return evs
}

func withRequestID(id string) http.Header { return http.Header{"X-Request-Id": {id}} }

// TestAuditOneEventPerRequestAndHandshake drives allowed, refused and
// failing-upstream requests and refused handshakes through the gateway,
// one after the other, and expects exactly one valid AuditEvent for each,
// in order, with the right codes and outcome.
func TestAuditOneEventPerRequestAndHandshake(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	ctx := context.Background()

	type want struct {
		requestID string // "" for a handshake
		codes     string
		outcome   string
		node      string
		desc      string // a substring of outcomeDesc
	}
	var wants []want
	step := func(w want) {
		wants = append(wants, w)
		// Wait for each event before the next step: a refused handshake is
		// recorded by the server after the client has seen the alert.
		waitAuditEvents(t, g, len(wants))
	}

	for i, proto := range []clientOption{http1, http2} {
		c := g.client(t, "alpha", proto)
		id := fmt.Sprintf("e2e-search-%d", i)
		if st, _, err := get(c, g.url("/fhir/Patient?_count=1"), withRequestID(id)); err != nil || st != 200 {
			t.Fatalf("search: %d %v", st, err)
		}
		step(want{requestID: id, codes: "rest/search-type/ITI-78", outcome: "0", node: "alpha"})
		id = fmt.Sprintf("e2e-read-%d", i)
		if st, _, err := get(c, g.url("/fhir/Patient/p-0001"), withRequestID(id)); err != nil || st != 200 {
			t.Fatalf("read: %d %v", st, err)
		}
		step(want{requestID: id, codes: "rest/read", outcome: "0", node: "alpha"})
	}

	// The registry fails: the event says so (serious failure).
	if err := sim.FailNext(ctx, g.sim.control, http.StatusBadGateway, 1); err != nil {
		t.Fatal(err)
	}
	if st, _, err := get(g.client(t, "alpha"), g.url("/fhir/Patient?_count=1"), withRequestID("e2e-upstream-502")); err != nil || st != 502 {
		t.Fatalf("failing upstream: %d %v", st, err)
	}
	step(want{requestID: "e2e-upstream-502", codes: "rest/search-type/ITI-78", outcome: "8", node: "alpha"})

	// A client-given request id that could inject into logs is replaced.
	c := g.client(t, "alpha")
	req, _ := http.NewRequest(http.MethodGet, g.url("/fhir/Patient?_count=1"), nil)
	req.Header.Set("X-Request-Id", "bad id\twith spaces<script>")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	minted := resp.Header.Get("X-Request-Id")
	if len(minted) != 36 || strings.ContainsAny(minted, " <\t") {
		t.Fatalf("response X-Request-Id = %q, want a minted UUID", minted)
	}
	recs := g.sim.records(t)
	if got := http.Header(recs[len(recs)-1].Headers).Get("X-Request-Id"); got != minted {
		t.Fatalf("upstream X-Request-Id = %q, want the minted %q", got, minted)
	}
	step(want{requestID: minted, codes: "rest/search-type/ITI-78", outcome: "0", node: "alpha"})

	// Refused handshakes: security alerts with the reason.
	for _, hs := range []struct{ cert, desc string }{
		{"", "no_client_certificate"},
		{"stranger", "unregistered_certificate"},
		{"expired", "certificate_expired"},
		{"foreign", "unknown_ca"},
	} {
		if err := g.handshakeOutcome(g.tlsConfig(t, hs.cert)); err == nil {
			t.Fatalf("handshake with %q accepted", hs.cert)
		}
		step(want{codes: "110113/110126", outcome: "4", desc: hs.desc})
	}
	old := g.tlsConfig(t, "alpha")
	old.MinVersion, old.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	if conn, err := tls.Dial("tcp", g.addr(), old); err == nil {
		conn.Close()
		t.Fatal("TLS 1.1 accepted")
	}
	step(want{codes: "110113/110126", outcome: "4", desc: "protocol_version"})

	// A request refused by node_auth (the node was disabled while its
	// connection stayed open).
	keepAlive := g.client(t, "bravo", http1)
	if st, _, err := get(keepAlive, g.url("/fhir/Patient?_count=1"), withRequestID("e2e-bravo-ok")); err != nil || st != 200 {
		t.Fatalf("bravo: %d %v", st, err)
	}
	step(want{requestID: "e2e-bravo-ok", codes: "rest/search-type/ITI-78", outcome: "0", node: "bravo"})
	if out, err := crgate("clients", "disable", "--file", g.clients, "--id", "bravo"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	waitFor(t, "the clients file reload", 20*time.Second, func() bool { return g.logged("node registry reloaded") })
	before := len(g.sim.records(t))
	if st, _, err := get(keepAlive, g.url("/fhir/Patient?_count=1"), withRequestID("e2e-bravo-refused")); err != nil || st != 403 {
		t.Fatalf("disabled bravo: %d %v", st, err)
	}
	if n := len(g.sim.records(t)); n != before {
		t.Fatalf("the refused request reached the registry")
	}
	step(want{requestID: "e2e-bravo-refused", codes: "110113/110126", outcome: "4", desc: "node_disabled"})

	// Requests fhir_guard refuses: an interaction the node has no scope
	// for, and an ambiguous spelling. Neither reaches the registry; each is
	// one authorization-failure event naming the rule.
	before = len(g.sim.records(t))
	del, _ := http.NewRequest(http.MethodDelete, g.url("/fhir/Patient/p-0001"), nil)
	del.Header.Set("X-Request-Id", "e2e-guard-scope")
	resp, err = g.client(t, "alpha").Do(del)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("DELETE without the scope: %v %v", resp, err)
	}
	resp.Body.Close()
	step(want{requestID: "e2e-guard-scope", codes: "110113/", outcome: "4", node: "alpha", desc: "fhir_guard"})
	if st, _, err := get(g.client(t, "alpha"), g.url("/fhir/Patient;jsessionid=x"), withRequestID("e2e-guard-ambiguous")); err != nil || st != http.StatusBadRequest {
		t.Fatalf("ambiguous path: %d %v", st, err)
	}
	step(want{requestID: "e2e-guard-ambiguous", codes: "110113/", outcome: "4", node: "alpha", desc: "semicolon"})
	if n := len(g.sim.records(t)); n != before {
		t.Fatalf("a request fhir_guard refused reached the registry")
	}

	evs := requestEvents(auditEvents(t, g.auditFile()))
	if len(evs) != len(wants) {
		for _, e := range evs {
			t.Log(e.codes(), e.OutcomeDesc)
		}
		t.Fatalf("%d audit events, want exactly %d", len(evs), len(wants))
	}
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i, w := range wants {
		ev := evs[i]
		if _, err := u.Unmarshal(ev.raw); err != nil {
			t.Errorf("event %d is not a valid FHIR R4 resource: %v\n%s", i, err, ev.raw)
		}
		if ev.ResourceTyp != "AuditEvent" || ids[ev.ID] {
			t.Errorf("event %d: resourceType %q id %q (duplicate %v)", i, ev.ResourceTyp, ev.ID, ids[ev.ID])
		}
		ids[ev.ID] = true
		codes := ev.codes()
		if !strings.HasPrefix(codes, w.codes) || ev.Outcome != w.outcome || ev.requestID() != w.requestID ||
			(w.node != "" && ev.nodeID() != w.node) || !strings.Contains(ev.OutcomeDesc, w.desc) {
			t.Errorf("event %d: codes %s outcome %s request id %q node %q desc %q;\nwant codes %s… outcome %s request id %q node %q desc ~%q",
				i, codes, ev.Outcome, ev.requestID(), ev.nodeID(), ev.OutcomeDesc, w.codes, w.outcome, w.requestID, w.node, w.desc)
		}
	}

	t.Run("verify-and-tamper", func(t *testing.T) {
		key := filepath.Join(g.auditDir(), "checkpoint.key")
		// Seal the chain before copying it: stop the gateway (it writes a
		// final checkpoint).
		g.stop()
		out, err := crgate("audit", "verify", "--key", key, g.auditFile())
		if err != nil || !strings.Contains(out, "ok: 1 file(s)") {
			t.Fatalf("verify of the untouched file: %v\n%s", err, out)
		}
		lines := strings.SplitAfter(strings.TrimSuffix(readFile(t, g.auditFile()), "\n"), "\n")
		tampered := map[string]struct {
			content string
			want    string
		}{
			"altered-outcome": {strings.Join(replaceLine(lines, 3, func(s string) string {
				return strings.Replace(s, `"outcome":"0"`, `"outcome":"4"`, 1)
			}), ""), ":3: "},
			"deleted-line": {strings.Join(append(append([]string{}, lines[:4]...), lines[5:]...), ""), ":5: lines missing"},
			"truncated":    {strings.Join(lines, "")[:len(strings.Join(lines, ""))-10], "truncated"},
		}
		for name, tc := range tampered {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := crgate("audit", "verify", "--key", key, path)
			if err == nil || !strings.Contains(out, path+tc.want) && !strings.Contains(out, tc.want) {
				t.Errorf("%s: verify = %v\n%s\nwant a failure naming %q", name, err, out, tc.want)
			}
		}
		// search and export read the same file.
		out, err = crgate("audit", "search", "--node", "alpha", "--outcome", "8", "--json", g.auditFile())
		if err != nil || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"outcome":"8"`) {
			t.Errorf("search --node alpha --outcome 8: %v\n%s", err, out)
		}
		// Six handshake or node_auth alerts and two fhir_guard refusals.
		out, err = crgate("audit", "export", "--type", "110113", g.auditFile())
		var bundle struct {
			ResourceType, Type string
			Total              int
			Entry              []json.RawMessage
		}
		if err != nil || json.Unmarshal([]byte(out), &bundle) != nil || bundle.ResourceType != "Bundle" || bundle.Total != 8 || len(bundle.Entry) != 8 {
			t.Errorf("export --type 110113: %v, bundle %+v\n%.500s", err, bundle, out)
		}
	})
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func replaceLine(lines []string, n int, f func(string) string) []string {
	out := append([]string{}, lines...)
	out[n-1] = f(out[n-1])
	return out
}

// TestAuditHandshakeWrapperKeepsServing checks that clients that open a
// connection and never handshake hold nobody else up, and that HTTP/2 and
// client certificates still reach the handlers through the wrapper.
func TestAuditHandshakeWrapperKeepsServing(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	for range 20 {
		conn, err := net.Dial("tcp", g.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
	}
	c := g.client(t, "alpha", http2)
	req, _ := http.NewRequest(http.MethodGet, g.url("/fhir/Patient?_count=1"), nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("a registered node behind 20 idle connections: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("status %d over HTTP/%d, want 200 over HTTP/2", resp.StatusCode, resp.ProtoMajor)
	}
	// node_auth saw the client certificate (r.TLS.PeerCertificates).
	recs := g.sim.records(t)
	if got := http.Header(recs[len(recs)-1].Headers).Get("X-Crgate-Node-Id"); got != "alpha" {
		t.Fatalf("upstream node id %q, want alpha", got)
	}
}

// TestAuditSpoolFullFailsClosed makes the only sink unable to deliver (its
// file is a FIFO, which cannot be fsynced) and the spool small: once it is
// full, requests are answered 503 and none reaches the registry.
func TestAuditSpoolFullFailsClosed(t *testing.T) {
	t.Parallel()
	s := startSim(t)
	env, g := gatewayEnv(t, gatewayOptions{env: map[string]string{"CRGATE_AUDIT_SPOOL_MAX": "256KiB"}}, s.addr)
	g.sim = s
	if err := os.MkdirAll(g.auditDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(g.auditFile(), 0o600); err != nil {
		t.Fatal(err)
	}
	g.process = startProcess(t, env, crgateBin, "run", "--config", caddyfileArg(gatewayOptions{}), "--adapter", "caddyfile")
	c := g.client(t, "alpha", http2)
	waitFor(t, "crgate to serve", 30*time.Second, func() bool {
		st, _, err := get(c, g.url("/fhir/Patient?_count=1"), nil)
		return err == nil && st == 200
	})
	full := false
	for i := 0; i < 5000 && !full; i++ {
		st, _, err := get(c, g.url("/fhir/Patient?_count=1"), nil)
		if err != nil {
			t.Fatal(err)
		}
		full = st == http.StatusServiceUnavailable
	}
	if !full {
		t.Fatal("5000 requests into a 256 KiB spool whose sink is down and no 503")
	}
	before := len(g.sim.records(t))
	for range 5 {
		if st, _, err := get(c, g.url("/fhir/Patient?_count=1"), nil); err != nil || st != 503 {
			t.Fatalf("spool full: status %d, err %v; want 503", st, err)
		}
	}
	if after := len(g.sim.records(t)); after != before {
		t.Fatalf("%d requests reached the registry while the spool was full", after-before)
	}
	m := g.metrics(t)
	if strings.Contains(m, "crgate_audit_drops_total{") {
		t.Errorf("drops counted under fail_closed:\n%s", grepLines(m, "crgate_audit_drops_total"))
	}
	if !strings.Contains(m, "crgate_audit_requests_refused_total") || strings.Contains(m, "crgate_audit_requests_refused_total 0\n") {
		t.Errorf("refusals not counted:\n%s", grepLines(m, "crgate_audit_requests_refused"))
	}
	g.process.cmd.Process.Kill() // its sink never drains
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAuditSurvivesKill9 kills crgate (sync durability) under a bounded
// load and restarts it on the same spool: every request that reached the
// registry, and every one the load generator saw answered, has its event;
// requests in flight at the kill are recorded as incomplete.
func TestAuditSurvivesKill9(t *testing.T) {
	t.Parallel()
	s := startSim(t)
	env, g := gatewayEnv(t, gatewayOptions{}, s.addr)
	g.sim = s
	start := func() {
		g.process = startProcess(t, env, crgateBin, "run", "--config", caddyfileArg(gatewayOptions{}), "--adapter", "caddyfile")
		waitFor(t, "crgate to serve", 30*time.Second, func() bool {
			conn, err := tls.Dial("tcp", g.addr(), g.tlsConfig(t, "alpha"))
			if err == nil {
				conn.Close()
			}
			return err == nil
		})
	}
	start()

	var mu sync.Mutex
	answered := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 4 {
		c := g.client(t, "alpha", http1)
		wg.Go(func() {
			for i := range 2000 { // bounded; the kill ends it much sooner
				if ctx.Err() != nil {
					return
				}
				id := fmt.Sprintf("kill9-%d-%d", w, i)
				st, _, err := get(c, g.url("/fhir/Patient?_count=1"), withRequestID(id))
				if err != nil {
					return // the gateway is gone
				}
				mu.Lock()
				answered[id] = st
				mu.Unlock()
			}
		})
	}
	waitFor(t, "some load", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(answered) >= 200
	})
	if err := g.process.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-g.process.done
	wg.Wait()

	reached := map[string]bool{}
	for _, r := range g.sim.records(t) {
		if id := http.Header(r.Headers).Get("X-Request-Id"); strings.HasPrefix(id, "kill9-") {
			reached[id] = true
		}
	}
	start()
	var byID map[string]auditEvent
	waitFor(t, "every answered and forwarded request's event after the restart", 30*time.Second, func() bool {
		byID = map[string]auditEvent{}
		for _, ev := range auditEvents(t, g.auditFile()) {
			if id := ev.requestID(); id != "" {
				byID[id] = ev
			}
		}
		for id := range answered {
			if _, ok := byID[id]; !ok {
				return false
			}
		}
		for id := range reached {
			if _, ok := byID[id]; !ok {
				return false
			}
		}
		return true
	})
	incomplete := 0
	for id, ev := range byID {
		st, wasAnswered := answered[id]
		switch {
		case ev.Outcome == "12":
			incomplete++
			if !strings.Contains(ev.OutcomeDesc, "completion never recorded") {
				t.Errorf("%s: outcome 12 without saying the completion is missing: %q", id, ev.OutcomeDesc)
			}
		case !wasAnswered && ev.Outcome == "0":
			// Answered by the gateway, the answer lost with the connection.
		case wasAnswered && st == 200 && ev.Outcome != "0":
			t.Errorf("%s: answered 200, event outcome %s", id, ev.Outcome)
		}
	}
	t.Logf("%d answered, %d reached the registry, %d events, %d incomplete", len(answered), len(reached), len(byID), incomplete)
	out, err := crgate("audit", "verify", "--key", filepath.Join(g.auditDir(), "checkpoint.key"), g.auditFile())
	if err != nil {
		t.Fatalf("verify after kill -9 and restart: %v\n%s", err, out)
	}
}

// TestAuditSpoolSurvivesReload reloads the config under the running
// gateway: the spool and the file are shared, not reopened, and the
// reload is no application stop/start.
func TestAuditSpoolSurvivesReload(t *testing.T) {
	t.Parallel()
	s := startSim(t)
	env, g := gatewayEnv(t, gatewayOptions{}, s.addr)
	g.sim = s
	g.process = startProcess(t, env, crgateBin, "run", "--config", caddyfileArg(gatewayOptions{}), "--adapter", "caddyfile")
	c := g.client(t, "alpha")
	waitFor(t, "crgate to serve", 30*time.Second, func() bool {
		st, _, err := get(c, g.url("/fhir/Patient?_count=1"), withRequestID("reload-warmup"))
		return err == nil && st == 200
	})
	if st, _, err := get(c, g.url("/fhir/Patient?_count=1"), withRequestID("reload-before")); err != nil || st != 200 {
		t.Fatalf("before: %d %v", st, err)
	}
	cmd := exec.Command(crgateBin, "reload", "--force", "--config", caddyfileArg(gatewayOptions{}), "--adapter", "caddyfile",
		"--address", fmt.Sprintf("127.0.0.1:%d", g.adminPort))
	cmd.Dir, cmd.Env = repoRoot, append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	if st, _, err := get(g.client(t, "alpha"), g.url("/fhir/Patient?_count=1"), withRequestID("reload-after")); err != nil || st != 200 {
		t.Fatalf("after: %d %v", st, err)
	}
	waitAuditEvents(t, g, 3)
	all := auditEvents(t, g.auditFile())
	seen := map[string]int{}
	starts, stops := 0, 0
	for _, ev := range all {
		seen[ev.requestID()]++
		switch ev.codes() {
		case "110100/110120":
			starts++
		case "110100/110121":
			stops++
		}
	}
	if seen["reload-before"] != 1 || seen["reload-after"] != 1 || starts != 1 || stops != 0 {
		t.Fatalf("events by request id %v, %d starts, %d stops; want one each, one start, no stop", seen, starts, stops)
	}
	if !g.logged("config is unchanged") && !g.logged("load complete") {
		t.Fatalf("no reload in the log")
	}
}

// TestAuditGracefulStop stops crgate (SIGTERM) while a request waits on a
// slow registry: the request is answered, its event is complete (not
// incomplete), and the application stop is the last event, in the file
// before the process exits.
func TestAuditGracefulStop(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	if err := sim.DelayNext(context.Background(), g.sim.control, 1500*time.Millisecond, 1); err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	c := g.client(t, "alpha")
	go func() {
		st, _, err := get(c, g.url("/fhir/Patient?_count=1"), withRequestID("graceful-slow"))
		done <- result{st, err}
	}()
	waitFor(t, "the slow request to reach the registry", 10*time.Second, func() bool {
		for _, r := range g.sim.records(t) {
			if http.Header(r.Headers).Get("X-Request-Id") == "graceful-slow" {
				return true
			}
		}
		return false
	})
	if err := g.process.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.process.done:
	case <-time.After(30 * time.Second):
		t.Fatal("crgate did not stop")
	}
	if r := <-done; r.err != nil || r.status != 200 {
		t.Fatalf("the request in flight at the stop: %d %v", r.status, r.err)
	}
	evs := auditEvents(t, g.auditFile())
	slow, stop := -1, -1
	for i, ev := range evs {
		if ev.requestID() == "graceful-slow" {
			if slow >= 0 || ev.Outcome != "0" {
				t.Fatalf("slow request's event: second %v, outcome %s", slow >= 0, ev.Outcome)
			}
			slow = i
		}
		if ev.codes() == "110100/110121" {
			stop = i
		}
	}
	if slow < 0 || stop != len(evs)-1 || slow > stop {
		t.Fatalf("slow request's event at %d, application stop at %d of %d events; want the stop last, after it", slow, stop, len(evs))
	}
}

// TestAuditAsyncDurability runs the pipeline with durability async: every
// request still has its event.
func TestAuditAsyncDurability(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{env: map[string]string{"CRGATE_AUDIT_DURABILITY": "async"}})
	for i := range 5 {
		id := fmt.Sprintf("async-%d", i)
		if st, _, err := get(g.client(t, "alpha", http2), g.url("/fhir/Patient?_count=1"), withRequestID(id)); err != nil || st != 200 {
			t.Fatalf("%s: %d %v", id, st, err)
		}
	}
	evs := waitAuditEvents(t, g, 5)
	for i, ev := range evs {
		if want := fmt.Sprintf("async-%d", i); ev.requestID() != want || ev.Outcome != "0" {
			t.Errorf("event %d: request id %q outcome %s, want %s outcome 0", i, ev.requestID(), ev.Outcome, want)
		}
	}
	if !g.logged(`"durability":"async"`) {
		t.Error("the gateway did not run with durability async")
	}
}
