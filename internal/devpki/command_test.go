package devpki

import (
	"bytes"
	"math/big"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/crgate/crgate/internal/certfp"
)

// runPKI runs `pki args...` through the same cobra tree the binary gets.
func runPKI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "pki", SilenceUsage: true, SilenceErrors: true}
	addSubcommands(root)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestCommandFlow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")

	out, err := runPKI(t, "init", "--dir", dir, "--host", "gw.test", "--days", "30")
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	wantInit := strings.Join([]string{
		filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"),
		filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"),
		filepath.Join(dir, "ca.crl"),
	}, "\n") + "\n"
	if out != wantInit {
		t.Errorf("init printed:\n%s\nwant:\n%s", out, wantInit)
	}

	if _, err := runPKI(t, "init", "--dir", dir); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second init: err = %v, want a refusal mentioning --force", err)
	}

	out, err = runPKI(t, "issue", "--dir", dir, "--name", "pos-001")
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	crt := filepath.Join(dir, "clients", "pos-001.crt")
	fp := certfp.Of(mustReadCert(t, crt).Raw).String()
	wantIssue := `issued client certificate "pos-001"` + "\n" +
		"certificate: " + crt + "\n" +
		"key: " + filepath.Join(dir, "clients", "pos-001.key") + "\n" +
		"fingerprint: " + fp + "\n"
	if out != wantIssue {
		t.Errorf("issue printed:\n%s\nwant:\n%s", out, wantIssue)
	}
	// The form scripts rely on: colon-separated upper-case hex pairs.
	if !regexp.MustCompile(`(?m)^fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(out) {
		t.Errorf("fingerprint line not in the expected form:\n%s", out)
	}

	out, err = runPKI(t, "issue", "--dir", dir, "--name", "pos-002", "--p12")
	if err != nil {
		t.Fatalf("issue --p12: %v", err)
	}
	p12 := filepath.Join(dir, "clients", "pos-002.p12")
	if !strings.Contains(out, "\npkcs12: "+p12+"\n") || !strings.Contains(out, "pkcs12 password: "+p12+".pass (generated)\n") {
		t.Errorf("issue --p12 printed:\n%s", out)
	}

	out, err = runPKI(t, "revoke", "--dir", dir, "--name", "pos-001")
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	serial := formatSerial(mustReadCert(t, crt).SerialNumber)
	crl := filepath.Join(dir, "ca.crl")
	if want := `revoked "pos-001" serial ` + serial + "; " + crl + " now lists 1 certificate(s)\n"; out != want {
		t.Errorf("revoke printed %q, want %q", out, want)
	}
	out, err = runPKI(t, "revoke", "--dir", dir, "--name", "pos-001")
	if err != nil || !strings.Contains(out, "already revoked") {
		t.Errorf("second revoke: %q, %v", out, err)
	}
}

func TestCommandErrors(t *testing.T) {
	dir := newPKI(t, InitOptions{})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"fail/unknown-subcommand", []string{"isue"}, `unknown subcommand "isue"`},
		{"fail/positional-arg", []string{"init", "--dir", dir, "extra"}, "unknown command"},
		{"fail/init-missing-dir", []string{"init"}, `"dir"`},
		{"fail/issue-missing-name", []string{"issue", "--dir", dir}, `"name"`},
		{"fail/days-zero", []string{"issue", "--dir", dir, "--name", "a", "--days", "0"}, "--days"},
		{"fail/key-type", []string{"issue", "--dir", dir, "--name", "a", "--key-type", "dsa"}, "--key-type"},
		{"fail/password-file-without-p12", []string{"issue", "--dir", dir, "--name", "a", "--p12-password-file", "/nonexistent"}, "needs --p12"},
		{"fail/password-file-missing", []string{"issue", "--dir", dir, "--name", "a", "--p12", "--p12-password-file", "/nonexistent"}, "/nonexistent"},
		{"fail/bad-name", []string{"issue", "--dir", dir, "--name", "../x"}, "--name"},
		{"fail/revoke-unknown", []string{"revoke", "--dir", dir, "--name", "nobody"}, "nobody.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runPKI(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("pki %q: err = %v, want one mentioning %s", tt.args, err, tt.want)
			}
		})
	}
}

func TestFormatSerial(t *testing.T) {
	tests := []struct {
		name string
		in   *big.Int
		want string
	}{
		{"ok/whole-bytes", big.NewInt(0x0a1b), "0A1B"},
		{"ok/high-bit", big.NewInt(0xff), "FF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatSerial(tt.in); got != tt.want {
				t.Fatalf("formatSerial(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
