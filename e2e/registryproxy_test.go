package e2e

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawExchange writes request bytes exactly as given on a fresh HTTP/1.1
// TLS connection as node cert and reads one response.
func (g *gateway) rawExchange(t *testing.T, cert, method, request string) (*http.Response, string) {
	t.Helper()
	cfg := g.tlsConfig(t, cert)
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", g.addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestRegistryProxyHeaders: what the registry receives through
// registry_proxy is the gateway's word on who and where the client is,
// whatever the client writes in forwarding or hop-by-hop headers.
func TestRegistryProxyHeaders(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})

	t.Run("connection-tokens-cannot-drop-the-node-identity", func(t *testing.T) {
		before := len(g.sim.records(t))
		req := fmt.Sprintf("GET /fhir/Patient/p-0001 HTTP/1.1\r\nHost: localhost:%d\r\n"+
			"Connection: close, X-Openhim-Clientid, X-Crgate-Node-Id\r\n"+
			"Connection: x_crgate_node_name,X-CRGATE-NODE-FINGERPRINT, X-Hop-Only\r\n"+
			"X-Hop-Only: 1\r\n\r\n", g.port)
		resp, body := g.rawExchange(t, "alpha", http.MethodGet, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		recs := g.sim.records(t)[before:]
		if len(recs) != 1 {
			t.Fatalf("simulator saw %d requests, want 1", len(recs))
		}
		h := http.Header(recs[0].Headers)
		for _, k := range []string{"X-Openhim-Clientid", "X-Crgate-Node-Id"} {
			if got := h.Values(k); len(got) != 1 || got[0] != "alpha" {
				t.Errorf("%s = %q at the registry, want [alpha]", k, got)
			}
		}
		if h.Get("X-Crgate-Node-Name") == "" || h.Get("X-Crgate-Node-Fingerprint") == "" {
			t.Errorf("node name/fingerprint dropped: %v", h)
		}
		if v := h.Values("X-Hop-Only"); len(v) != 0 {
			t.Errorf("a header the client made hop-by-hop reached the registry: %q", v)
		}
		if v := h.Values("Connection"); len(v) != 0 && !strings.EqualFold(strings.Join(v, ""), "keep-alive") {
			t.Errorf("the client's Connection header reached the registry: %q", v)
		}
	})

	t.Run("forwarding-headers-are-the-gateways", func(t *testing.T) {
		bothProtocols(t, func(t *testing.T, proto clientOption) {
			before := len(g.sim.records(t))
			spoof := http.Header{
				"X-Forwarded-For":   {"10.1.2.3"},
				"X-Forwarded-Host":  {"opencr.internal"},
				"X-Forwarded-Proto": {"http"},
				"Forwarded":         {"for=10.1.2.3;proto=http"},
				"X-Real-Ip":         {"10.1.2.3"},
				// What HAPI's address strategy, Spring and Tomcat build
				// links and schemes from, a client address to another
				// reader, a second URL, and the '_' spellings.
				"X-Forwarded-Prefix": {"//evil.example"},
				"X-Forwarded-Port":   {"80"},
				"X-Forwarded-Ssl":    {"off"},
				"True-Client-Ip":     {"10.1.2.3"},
				"X-Original-Url":     {"/fhir/$expunge"},
				"X_Forwarded_Host":   {"evil.example"},
				"X_Forwarded_Proto":  {"http"},
			}
			req, err := http.NewRequest(http.MethodGet, g.url("/fhir/Patient/p-0001"), nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range spoof {
				req.Header[k] = v
			}
			resp, err := g.client(t, "alpha", proto).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			// The simulator answers with HAPI's X-Powered-By banner; the
			// client sees only the gateway's Server header.
			if v := resp.Header.Values("X-Powered-By"); len(v) != 0 {
				t.Errorf("the registry's X-Powered-By reached the client: %q", v)
			}
			if v := resp.Header.Values("Server"); len(v) != 1 || v[0] != "Caddy" {
				t.Errorf("Server at the client: %q, want the gateway's only", v)
			}
			recs := g.sim.records(t)[before:]
			if len(recs) != 1 {
				t.Fatalf("simulator saw %d requests, want 1", len(recs))
			}
			h := http.Header(recs[0].Headers)
			want := map[string]string{
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Proto": "https",
				"X-Forwarded-Host":  fmt.Sprintf("localhost:%d", g.port),
			}
			for k, v := range want {
				if got := h.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q at the registry, want [%s]", k, got, v)
				}
			}
			for k := range spoof {
				if _, gateways := want[k]; gateways {
					continue
				}
				if v := h.Values(k); len(v) != 0 {
					t.Errorf("client's %s reached the registry: %q", k, v)
				}
			}
		})
	})
}

// TestRegistryProxyBodies: a chunked HTTP/1.1 body, and a body that looks
// like a second request, reach the registry as one request with exactly
// that body.
func TestRegistryProxyBodies(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	patient := `{"resourceType":"Patient","name":[{"family":"Okafor"}]}`
	smuggled := fmt.Sprintf("GET /fhir/$expunge HTTP/1.1\r\nHost: localhost:%d\r\n\r\n", g.port)
	// The request-shaped body goes to an operation, whose body fhir_guard
	// does not read (a create's must be JSON it can judge).
	tests := []struct {
		name, request, path, body string
	}{
		{"chunked", fmt.Sprintf("POST /fhir/Patient HTTP/1.1\r\nHost: localhost:%d\r\nContent-Type: application/fhir+json\r\n"+
			"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n",
			g.port, 10, patient[:10], len(patient)-10, patient[10:]), "/fhir/Patient", patient},
		{"request-shaped-body", fmt.Sprintf("POST /fhir/Patient/$match HTTP/1.1\r\nHost: localhost:%d\r\nContent-Type: application/fhir+json\r\n"+
			"Content-Length: %d\r\nConnection: close\r\n\r\n%s", g.port, len(smuggled), smuggled), "/fhir/Patient/$match", smuggled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(g.sim.records(t))
			// The simulator parses the body as HAPI would (and refuses the
			// request-shaped one with 400); what matters is what it received.
			resp, body := g.rawExchange(t, "delta", http.MethodPost, tt.request)
			if resp.StatusCode >= 500 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			recs := g.sim.records(t)[before:]
			if len(recs) != 1 {
				t.Fatalf("simulator saw %d requests, want exactly 1", len(recs))
			}
			sum := sha256.Sum256([]byte(tt.body))
			if r := recs[0]; r.Method != http.MethodPost || r.Path != tt.path || r.BodyBytes != int64(len(tt.body)) ||
				r.BodySHA256 != hex.EncodeToString(sum[:]) || r.BodyError != "" {
				t.Errorf("registry got %s %s with %d body bytes (sha256 %s, error %q), want POST %s with %q",
					r.Method, r.Path, r.BodyBytes, r.BodySHA256, r.BodyError, tt.path, tt.body)
			}
		})
	}
}

// TestRegistryProxyRefusesUpgrades: a WebSocket (or h2c) upgrade is never
// forwarded; the node gets a 400 OperationOutcome.
func TestRegistryProxyRefusesUpgrades(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	before := len(g.sim.records(t))
	for _, up := range []string{"websocket", "h2c"} {
		req := fmt.Sprintf("GET /fhir/Patient?name=x HTTP/1.1\r\nHost: localhost:%d\r\nConnection: Upgrade\r\nUpgrade: %s\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", g.port, up)
		resp, body := g.rawExchange(t, "alpha", http.MethodGet, req)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Header.Get("Content-Type"), "fhir+json") ||
			!strings.Contains(body, "OperationOutcome") {
			t.Errorf("Upgrade: %s → %d %s %q, want 400 OperationOutcome", up, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	if recs := g.sim.records(t)[before:]; len(recs) != 0 {
		t.Errorf("an upgrade request reached the registry: %s %s", recs[0].Method, recs[0].RequestURI)
	}
}

// TestRegistryProxyUpstreamDown: with the registry unreachable the node
// gets a 502 OperationOutcome and the gateway keeps serving.
func TestRegistryProxyUpstreamDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	g := startGateway(t, gatewayOptions{env: map[string]string{"CRGATE_UPSTREAM": dead}})
	for i := range 3 {
		resp, body := g.rawExchange(t, "alpha", http.MethodGet,
			fmt.Sprintf("GET /fhir/Patient/p-0001 HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n\r\n", g.port))
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "OperationOutcome") {
			t.Fatalf("request %d: %d %q, want 502 OperationOutcome", i, resp.StatusCode, body)
		}
	}
}

// TestRegistryProxyAbortedResponseIsAuditedAsFailed: when the registry
// breaks a response off after its head, the node must not receive it as
// whole (the gateway aborts the connection instead of ending the body),
// and the audit event says the request failed even though 200 was sent.
func TestRegistryProxyAbortedResponseIsAuditedAsFailed(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	const partial = `{"resourceType":"Patient","id":"p-0`
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for { // the request head
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n%s", partial)
			}()
		}
	}()
	g := startGateway(t, gatewayOptions{env: map[string]string{"CRGATE_UPSTREAM": ln.Addr().String()}})

	const reqID = "aborted-response-1"
	cfg := g.tlsConfig(t, "alpha")
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", g.addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /fhir/Patient/p-0001 HTTP/1.1\r\nHost: localhost:%d\r\nX-Request-Id: %s\r\n\r\n", g.port, reqID)
	// The head may or may not have left the gateway's buffer before the
	// abort; either way the node must not read a complete response.
	if resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodGet}); err == nil {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatalf("the node read a complete %d response (%d bytes %q) although the registry broke it off", resp.StatusCode, len(body), body)
		}
	}

	var ev *auditEvent
	waitFor(t, "the aborted request's audit event", 20*time.Second, func() bool {
		for _, e := range requestEvents(auditEvents(t, g.auditFile())) {
			if e.requestID() == reqID {
				ev = &e
				return true
			}
		}
		return false
	})
	if ev.Outcome != "8" || !strings.Contains(ev.OutcomeDesc, "aborted") {
		t.Errorf("audit event outcome %q %q, want 8 (serious failure) saying the response was aborted; event: %s", ev.Outcome, ev.OutcomeDesc, ev.raw)
	}
}
