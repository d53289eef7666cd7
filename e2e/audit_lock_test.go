package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAuditFileOneWriter: `crgate audit verify` on the file a running
// gateway is writing under load finds it intact (a line still being
// written is not truncation), and a second gateway given its own spool
// but the same audit file refuses to start, naming the file, instead of
// appending a second chain to it.
func TestAuditFileOneWriter(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	c := g.client(t, "alpha")

	// Bounded load: at most 20 s, stopped once the checks are done.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				_, _, _ = get(c, g.url("/fhir/Patient?_count=1"), nil)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	key := filepath.Join(g.auditDir(), "checkpoint.key")
	waitFor(t, "events in the audit file", 10*time.Second, func() bool {
		st, err := os.Stat(g.auditFile())
		return err == nil && st.Size() > 64<<10
	})
	for range 10 {
		out, err := crgate("audit", "verify", "--key", key, g.auditFile())
		if err != nil || !strings.Contains(out, "ok: 1 file(s)") {
			t.Fatalf("verify of the live file: %v\n%s", err, out)
		}
	}

	src, err := os.ReadFile(filepath.Join(repoRoot, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	const spoolLine = "spool {$CRGATE_AUDIT_DIR:audit-dev}/spool\n"
	if !strings.Contains(string(src), spoolLine) {
		t.Fatalf("the Caddyfile has no line %q to give the second gateway its own spool", spoolLine)
	}
	second := filepath.Join(t.TempDir(), "Caddyfile")
	cf := strings.Replace(string(src), spoolLine, "spool {$CRGATE_SECOND_SPOOL}\n", 1)
	if err := os.WriteFile(second, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runGatewayToExit(t, gatewayOptions{caddyfile: second, env: map[string]string{
		"CRGATE_AUDIT_DIR":    g.auditDir(),
		"CRGATE_SECOND_SPOOL": t.TempDir(),
	}})
	if err == nil || !strings.Contains(out, g.auditFile()) || !strings.Contains(out, "in use by another process") {
		t.Fatalf("a second gateway on the same audit file: %v\n%s\nwant a refusal naming %s as in use", err, out, g.auditFile())
	}
	// The first gateway still serves and its chain is whole.
	if code, _, err := get(c, g.url("/fhir/Patient?_count=1"), nil); err != nil || code != 200 {
		t.Fatalf("the running gateway after the refused second: %d %v", code, err)
	}
	close(stop)
	wg.Wait()
	stop = make(chan struct{})
	g.stop()
	if out, err := crgate("audit", "verify", "--key", key, g.auditFile()); err != nil || !strings.Contains(out, "ok: 1 file(s)") {
		t.Fatalf("verify after stop: %v\n%s", err, out)
	}
}
