package e2e

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAuditRequestsAnsweredBeforeAnyRoute: requests net/http answers
// itself (an unparsable header, an unknown transfer coding or
// expectation, headers over the limit, a head cut off, OPTIONS *) reach
// no route and so no audit handler; each is still one security-alert
// event naming the node's certificate, the gateway keeps serving, and
// ordinary requests, over HTTP/1.1 and HTTP/2, add no such event.
func TestAuditRequestsAnsweredBeforeAnyRoute(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	cases := []struct {
		name, raw string
		status    string // the status line's code; "" when no answer comes
	}{
		{"unparsable-header", "GET /fhir/Patient HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n", "400"},
		{"bad-request-line", "GET /fhir/Patient HTTP/1.1 extra\r\nHost: localhost\r\n\r\n", "400"},
		{"unknown-transfer-coding", "POST /fhir/Patient/_search HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "501"},
		{"unmet-expectation", "GET /fhir/Patient HTTP/1.1\r\nHost: localhost\r\nExpect: 200-ok\r\n\r\n", "417"},
		{"headers-over-limit", "GET /fhir/Patient HTTP/1.1\r\nHost: localhost\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", "431"},
		{"options-asterisk", "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n", "200"},
		{"head-cut-off", "GET /fhir/Patient HTTP/1.1\r\nHost: loc", ""},
	}
	for _, tc := range cases {
		cfg := g.tlsConfig(t, "alpha")
		cfg.NextProtos = []string{"http/1.1"}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", g.addr(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		go func() { _, _ = conn.Write([]byte(tc.raw)) }() // the 431 may be answered mid-write
		if tc.status == "" {
			time.Sleep(100 * time.Millisecond) // let the gateway read the partial head
			conn.Close()
			continue
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 "+tc.status+" ") {
			t.Fatalf("%s: answered %q (%v), want %s", tc.name, line, err, tc.status)
		}
	}
	// Ordinary requests after them, two per keep-alive connection, which
	// then closes: served, and recorded as themselves only.
	for _, proto := range []clientOption{http1, http2} {
		c := g.client(t, "alpha", proto)
		for range 2 {
			if st, _, err := get(c, g.url("/fhir/Patient?_count=1"), nil); err != nil || st != http.StatusOK {
				t.Fatalf("after the malformed requests: %d %v", st, err)
			}
		}
		c.CloseIdleConnections()
	}
	// An HTTP/2 connection that opens no stream is no request either (the
	// HTTP/2 server reports the connection active as it starts).
	cfg := g.tlsConfig(t, "alpha")
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.Dial("tcp", g.addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	conn.Close()
	const served = 4
	evs := waitAuditEvents(t, g, len(cases)+served)
	waitFor(t, "the unrouted events", 20*time.Second, func() bool {
		evs = requestEvents(auditEvents(t, g.auditFile()))
		return len(unrouted(evs)) >= len(cases)
	})
	time.Sleep(300 * time.Millisecond) // no more may follow
	evs = requestEvents(auditEvents(t, g.auditFile()))
	un := unrouted(evs)
	if len(un) != len(cases) {
		t.Fatalf("%d not_routed events for %d requests answered before any route", len(un), len(cases))
	}
	for _, e := range un {
		if e.codes() != "110113/110132" || e.Outcome != "4" || !strings.Contains(string(e.raw), fixtures.fp["alpha"]) {
			t.Errorf("not_routed event %s, outcome %s, does not name alpha's certificate: %s", e.codes(), e.Outcome, e.raw)
		}
	}
	if n := len(evs) - len(un); n != served {
		t.Errorf("%d other events, want the %d served searches", n, served)
	}
}

func unrouted(evs []auditEvent) []auditEvent {
	var out []auditEvent
	for _, e := range evs {
		if strings.Contains(e.OutcomeDesc, "request refused by http: not_routed") {
			out = append(out, e)
		}
	}
	return out
}
