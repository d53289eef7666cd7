package testpeer

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// FHIR is a running FHIR R4 server (tools/fhir-server: medplum's FHIR
// router and in-memory repository, validating every resource written).
type FHIR struct {
	t      testing.TB
	Base   string // e.g. http://127.0.0.1:41234/fhir
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *lineWatcher
	next   int
	mu     sync.Mutex
	client *http.Client
}

// FHIROptions shape the server.
type FHIROptions struct {
	// CertFile and KeyFile make it serve HTTPS; ClientCAFile then requires
	// a client certificate from that CA (mutual TLS).
	CertFile, KeyFile, ClientCAFile string
	// BearerFile requires `Authorization: Bearer <file content>`;
	// BasicUser with BasicPasswordFile requires those Basic credentials.
	BearerFile                   string
	BasicUser, BasicPasswordFile string
	// ClientTLS is the TLS configuration of the test's own queries (for
	// an HTTPS server); ClientAuth their Authorization header.
	ClientTLS  *tls.Config
	ClientAuth string
}

// StartFHIR starts the server on a free loopback port.
func StartFHIR(t testing.TB, o FHIROptions) *FHIR {
	t.Helper()
	install := "needs node ≥ 20.19 and `npm ci --prefix tools/fhir-server` (make test-deps)"
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node", install)
	}
	dir := filepath.Join(RepoRoot(t), "tools", "fhir-server")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@medplum", "fhir-router", "package.json")); err != nil {
		missing(t, "@medplum/fhir-router", install)
	}
	args := []string{filepath.Join(dir, "server.mjs"), "--host", "127.0.0.1", "--port", "0", "--base", "/fhir"}
	add := func(flag, v string) {
		if v != "" {
			args = append(args, flag, v)
		}
	}
	add("--cert", o.CertFile)
	add("--key", o.KeyFile)
	add("--client-ca", o.ClientCAFile)
	add("--bearer-file", o.BearerFile)
	add("--basic-user", o.BasicUser)
	add("--basic-password-file", o.BasicPasswordFile)
	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(syncBuffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the FHIR server: %v", err)
	}
	f := &FHIR{t: t, cmd: cmd, stdin: stdin, out: newLineWatcher(stdout)}
	t.Cleanup(f.stop)
	// Loading the FHIR definitions takes a few seconds on a busy machine.
	line, next, err := f.out.wait(0, "ready ", 90*time.Second)
	if err != nil {
		t.Fatalf("FHIR server: %v; stderr: %s", err, stderr.String())
	}
	f.next = next
	f.Base = strings.TrimPrefix(line, "ready ")
	f.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: o.ClientTLS}}
	if o.ClientAuth != "" {
		f.client.Transport = authTransport{auth: o.ClientAuth, rt: f.client.Transport}
	}
	return f
}

type authTransport struct {
	auth string
	rt   http.RoundTripper
}

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", a.auth)
	return a.rt.RoundTrip(r)
}

// command sends a control line and waits for its acknowledgement.
func (f *FHIR) command(cmd string) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := io.WriteString(f.stdin, cmd+"\n"); err != nil {
		f.t.Fatalf("FHIR server %s: %v", cmd, err)
	}
	_, next, err := f.out.wait(f.next, cmd+" ok", 30*time.Second)
	if err != nil {
		f.t.Fatalf("FHIR server %s: %v", cmd, err)
	}
	f.next = next
}

// Down makes the server stop listening (connections refused, open ones
// dropped); what it stored stays.
func (f *FHIR) Down() { f.command("down") }

// Up makes it listen again on the same port.
func (f *FHIR) Up() { f.command("up") }

func (f *FHIR) stop() {
	_ = f.stdin.Close() // the server exits when its stdin closes
	done := make(chan struct{})
	go func() { _ = f.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		<-done
	}
}

// Search runs GET [base]/AuditEvent?query and returns the resources of
// all pages.
func (f *FHIR) Search(query string) []json.RawMessage {
	f.t.Helper()
	var out []json.RawMessage
	next := f.Base + "/AuditEvent?" + query
	for page := 0; next != "" && page < 1000; page++ {
		var b struct {
			ResourceType string `json:"resourceType"`
			Link         []struct {
				Relation string `json:"relation"`
				URL      string `json:"url"`
			} `json:"link"`
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		f.get(next, &b)
		if b.ResourceType != "Bundle" {
			f.t.Fatalf("search %s: got a %q", next, b.ResourceType)
		}
		for _, e := range b.Entry {
			out = append(out, e.Resource)
		}
		next = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				next = l.URL
			}
		}
	}
	return out
}

func (f *FHIR) get(url string, v any) {
	f.t.Helper()
	resp, err := f.client.Get(url)
	if err != nil {
		f.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		f.t.Fatalf("GET %s: %v: %s", url, err, body)
	}
}

// String describes the server for failure messages.
func (f *FHIR) String() string { return fmt.Sprintf("FHIR server %s", f.Base) }
