package sim

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// startSim runs a simulator on loopback ports chosen by the kernel.
func startSim(t *testing.T, o Options) (*Instance, Addrs) {
	t.Helper()
	in, err := Start(Config{Listen: "127.0.0.1:0", Control: "127.0.0.1:0", Options: o})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := in.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return in, in.Addrs()
}

// rawRequest writes req byte for byte on a fresh connection, so nothing
// between the test and the simulator normalises it, and returns the status
// line.
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading status line: %v", err)
	}
	return strings.TrimSpace(line)
}

func lastRecord(t *testing.T, a Addrs) Record {
	t.Helper()
	recs, err := Records(context.Background(), a.ControlURL())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		t.Fatal("no records")
	}
	return recs[len(recs)-1]
}

func TestRecordKeepsRequestExactly(t *testing.T) {
	_, a := startSim(t, Options{})
	tests := []struct {
		name    string
		raw     string
		status  string
		check   func(t *testing.T, r Record)
		uri     string
		method  string
		headers map[string][]string
	}{
		{
			name:   "ok/undecoded-uri-and-non-canonical-headers",
			raw:    "GET /fhir/Patient/%2e%2e/x;a=b?x=%41 HTTP/1.1\r\nHost: 127.0.0.1\r\nx_openhim_clientid: evil\r\nX-OpenHIM-ClientID: spoofed\r\nx-forwarded-client-cert: Hash=abc\r\nx-client-cn: one\r\nx-client-cn: two\r\nConnection: close\r\n\r\n",
			status: "HTTP/1.1 404 Not Found",
			uri:    "/fhir/Patient/%2e%2e/x;a=b?x=%41",
			method: "GET",
			headers: map[string][]string{
				"X_openhim_clientid":      {"evil"},
				"X-Openhim-Clientid":      {"spoofed"},
				"X-Forwarded-Client-Cert": {"Hash=abc"},
				"X-Client-Cn":             {"one", "two"},
				"Connection":              {"close"},
			},
			check: func(t *testing.T, r Record) {
				if r.Path != "/fhir/Patient/../x;a=b" || r.RawPath != "/fhir/Patient/%2e%2e/x;a=b" || r.Query != "x=%41" {
					t.Errorf("path %q raw_path %q query %q", r.Path, r.RawPath, r.Query)
				}
				if got := r.HeaderValues("x-openhim-clientid"); !slices.Equal(got, []string{"spoofed"}) {
					t.Errorf("HeaderValues(x-openhim-clientid) = %q", got)
				}
				if got := r.HeaderValues("X_OPENHIM_CLIENTID"); !slices.Equal(got, []string{"evil"}) {
					t.Errorf("HeaderValues(X_OPENHIM_CLIENTID) = %q", got)
				}
			},
		},
		{
			name:    "ok/absolute-form",
			raw:     "GET http://upstream.internal/fhir/metadata HTTP/1.1\r\nHost: upstream.internal\r\nConnection: close\r\n\r\n",
			status:  "HTTP/1.1 200 OK",
			uri:     "http://upstream.internal/fhir/metadata",
			method:  "GET",
			headers: map[string][]string{"Connection": {"close"}},
			check: func(t *testing.T, r Record) {
				if r.Host != "upstream.internal" || r.Path != "/fhir/metadata" {
					t.Errorf("host %q path %q", r.Host, r.Path)
				}
			},
		},
		{
			name:    "ok/options-asterisk",
			raw:     "OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
			status:  "HTTP/1.1 404 Not Found",
			uri:     "*",
			method:  "OPTIONS",
			headers: map[string][]string{"Connection": {"close"}},
		},
		{
			name:   "ok/chunked-body",
			raw:    "POST /fhir/Patient/_search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n7\r\n_id=p-0\r\n4\r\n001&\r\n0\r\n\r\n",
			status: "HTTP/1.1 200 OK",
			uri:    "/fhir/Patient/_search",
			method: "POST",
			headers: map[string][]string{
				"Content-Type": {"application/x-www-form-urlencoded"},
				"Connection":   {"close"},
			},
			check: func(t *testing.T, r Record) {
				sum := sha256.Sum256([]byte("_id=p-0001&"))
				if r.BodyBytes != 11 || r.BodySHA256 != hex.EncodeToString(sum[:]) || r.ContentLength != -1 ||
					!slices.Equal(r.TransferEncoding, []string{"chunked"}) || r.BodyError != "" {
					t.Errorf("body %d %s content_length %d te %q err %q", r.BodyBytes, r.BodySHA256, r.ContentLength, r.TransferEncoding, r.BodyError)
				}
			},
		},
		{
			name:   "ok/broken-chunked-body-still-recorded",
			raw:    "POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\nzz\r\n",
			status: "HTTP/1.1 400 Bad Request",
			uri:    "/fhir/Patient",
			method: "POST",
			headers: map[string][]string{
				"Connection": {"close"},
			},
			check: func(t *testing.T, r Record) {
				if r.BodyError == "" || r.BodyBytes != 3 {
					t.Errorf("body_bytes %d body_error %q", r.BodyBytes, r.BodyError)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rawRequest(t, a.Listen, tt.raw); got != tt.status {
				t.Fatalf("status line %q, want %q", got, tt.status)
			}
			r := lastRecord(t, a)
			if r.RequestURI != tt.uri || r.Method != tt.method || r.Proto != "HTTP/1.1" {
				t.Errorf("request_uri %q method %q proto %q, want %q %q", r.RequestURI, r.Method, r.Proto, tt.uri, tt.method)
			}
			if len(r.Headers) != len(tt.headers) {
				t.Errorf("headers %q, want %q", r.Headers, tt.headers)
			}
			for k, v := range tt.headers {
				if !slices.Equal(r.Headers[k], v) {
					t.Errorf("header %q = %q, want %q (all: %q)", k, r.Headers[k], v, r.Headers)
				}
			}
			if !strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") || r.Time.IsZero() || r.Seq == 0 {
				t.Errorf("remote %q time %v seq %d", r.RemoteAddr, r.Time, r.Seq)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestRecordEmptyBodyHash(t *testing.T) {
	g := newReg(t, Options{})
	serve(g, "GET", "/fhir/metadata", "")
	recs := g.Records(0)
	if len(recs) != 1 || recs[0].BodySHA256 != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" || recs[0].BodyBytes != 0 {
		t.Errorf("records %+v", recs)
	}
}

func TestBodyTooLarge(t *testing.T) {
	g := newReg(t, Options{MaxBodyBytes: 1024})
	w := serve(g, "POST", "/fhir/Patient", strings.Repeat("x", 2000))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", w.Code)
	}
	recs := g.Records(0)
	if len(recs) != 1 || recs[0].BodyError == "" || recs[0].BodyBytes != 1025 {
		t.Errorf("record %+v", recs)
	}
	if w := serve(g, "POST", "/fhir/Patient", `{"resourceType":"Patient"}`); w.Code != http.StatusCreated {
		t.Errorf("small body: %d", w.Code)
	}
}

func TestRecordRingBuffer(t *testing.T) {
	g := newReg(t, Options{MaxRecords: 5})
	for range 12 {
		serve(g, "GET", "/fhir/metadata", "")
	}
	var seqs []int64
	for _, r := range g.Records(0) {
		seqs = append(seqs, r.Seq)
	}
	if !slices.Equal(seqs, []int64{8, 9, 10, 11, 12}) {
		t.Errorf("seqs %v, want the newest five", seqs)
	}
	w := serve(g.ControlHandler(), "GET", "http://127.0.0.1/records?since=10", "")
	if w.Code != http.StatusOK || w.Header().Get("X-Records-Dropped") != "7" || w.Header().Get("X-Records-Last-Seq") != "12" {
		t.Errorf("control: %d %v", w.Code, w.Header())
	}
	if !strings.Contains(w.Body.String(), `"seq":11`) || strings.Contains(w.Body.String(), `"seq":10`) {
		t.Errorf("since=10: %s", w.Body.String())
	}
	g.ResetRecords()
	serve(g, "GET", "/fhir/metadata", "")
	if recs := g.Records(0); len(recs) != 1 || recs[0].Seq != 13 {
		t.Errorf("after reset: %+v", recs)
	}
}

func TestRecordingOff(t *testing.T) {
	g := newReg(t, Options{NoRecord: true})
	serve(g, "GET", "/fhir/Patient", "")
	if recs := g.Records(0); len(recs) != 0 {
		t.Errorf("recorded %d requests with recording off", len(recs))
	}
	w := serve(g.ControlHandler(), "GET", "http://localhost/records", "")
	if w.Body.String() != "[]" || w.Header().Get("X-Records-Enabled") != "false" {
		t.Errorf("GET /records: %s %v", w.Body.String(), w.Header())
	}
}
