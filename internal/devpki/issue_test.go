package devpki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/crgate/crgate/internal/certfp"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"ok/simple", "pos-001", true},
		{"ok/single-char", "a", true},
		{"ok/digit-first", "1node", true},
		{"ok/dots-underscores", "shop_12.till-3", true},
		{"ok/upper-case", "POS-A", true},
		{"ok/max-length", strings.Repeat("a", 64), true},
		{"fail/empty", "", false},
		{"fail/too-long", strings.Repeat("a", 65), false},
		{"fail/path-traversal", "../x", false},
		{"fail/dot-dot", "..", false},
		{"fail/dot", ".", false},
		{"fail/slash", "a/b", false},
		{"fail/backslash", `a\b`, false},
		{"fail/absolute", "/etc/passwd", false},
		{"fail/hidden-file", ".x", false},
		{"fail/leading-dash-looks-like-flag", "-x", false},
		{"fail/space", "a b", false},
		{"fail/trailing-newline", "a\n", false},
		{"fail/nul", "a\x00b", false},
		{"fail/non-ascii", "nöde", false},
		{"fail/colon", "c:x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateName(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func TestIssueRejectsBadNameBeforeWriting(t *testing.T) {
	dir := newPKI(t, InitOptions{})
	before := snapshot(t, filepath.Dir(dir))
	for _, name := range []string{"../x", "a/b", "", strings.Repeat("a", 65)} {
		if _, err := Issue(IssueOptions{Dir: dir, Name: name}); err == nil || !strings.Contains(err.Error(), "--name") {
			t.Errorf("Issue(%q): err = %v, want a --name error", name, err)
		}
	}
	if after := snapshot(t, filepath.Dir(dir)); !maps.Equal(before, after) {
		t.Error("rejected names wrote files")
	}
}

func TestIssueClientCert(t *testing.T) {
	skipModesOnWindows(t)
	dir := newPKI(t, InitOptions{})
	res := issue(t, IssueOptions{Dir: dir, Name: "pos-001"})

	if res.CertPath != filepath.Join(dir, "clients", "pos-001.crt") || res.KeyPath != filepath.Join(dir, "clients", "pos-001.key") {
		t.Fatalf("paths = %s, %s", res.CertPath, res.KeyPath)
	}
	if got := listDir(t, filepath.Join(dir, "clients")); !slices.Equal(got, []string{"pos-001.crt", "pos-001.key"}) {
		t.Errorf("clients/ holds %q", got)
	}
	if got := fileMode(t, res.KeyPath); got != 0o600 {
		t.Errorf("key mode = %v, want 0600", got)
	}
	if got, want := fileMode(t, res.CertPath), effectiveMode(t, 0o644); got != want {
		t.Errorf("cert mode = %v, want %v", got, want)
	}

	cert := mustReadCert(t, res.CertPath)
	if !cert.Equal(res.Cert) {
		t.Fatal("written certificate differs from the returned one")
	}
	if res.Fingerprint != certfp.Of(cert.Raw) {
		t.Error("Fingerprint is not the SHA-256 of the DER")
	}
	if cert.Subject.CommonName != "pos-001" {
		t.Errorf("CN = %q", cert.Subject.CommonName)
	}
	if cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("KeyUsage = %v, want DigitalSignature", cert.KeyUsage)
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage = %v, want ClientAuth only", cert.ExtKeyUsage)
	}
	if cert.IsCA {
		t.Error("client certificate is a CA")
	}
	if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %x is not a positive 128-bit number", cert.SerialNumber)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d != 365*24*time.Hour+clockSkew {
		t.Errorf("validity = %v, want 365 days (plus clock skew)", d)
	}

	roots := caPool(t, dir)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify for client auth: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate verifies for server auth")
	}

	key, err := readKey(res.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		t.Error("key file does not match certificate")
	}

	// Two certificates never share a serial.
	other := issue(t, IssueOptions{Dir: dir, Name: "pos-002"})
	if other.Cert.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Error("two certificates got the same serial")
	}
}

func TestIssueBackdate(t *testing.T) {
	at := time.Now().Truncate(time.Second)
	dir := newPKI(t, InitOptions{})
	setNow(t, at)

	res := issue(t, IssueOptions{Dir: dir, Name: "expired", Days: 1, Backdate: 2})
	if want := at.AddDate(0, 0, -1); !res.Cert.NotAfter.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", res.Cert.NotAfter, want)
	}
	if want := at.AddDate(0, 0, -2).Add(-clockSkew); !res.Cert.NotBefore.Equal(want) {
		t.Errorf("NotBefore = %v, want %v", res.Cert.NotBefore, want)
	}
	_, err := res.Cert.Verify(x509.VerifyOptions{
		Roots:       caPool(t, dir),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		CurrentTime: time.Now(),
	})
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Errorf("backdated certificate: Verify err = %v, want Expired", err)
	}
}

func TestIssueOptionErrors(t *testing.T) {
	dir := newPKI(t, InitOptions{})
	tests := []struct {
		name string
		opts IssueOptions
		want string
	}{
		{"fail/no-dir", IssueOptions{Name: "a"}, "--dir"},
		{"fail/negative-days", IssueOptions{Dir: dir, Name: "a", Days: -1}, "--days"},
		{"fail/negative-backdate", IssueOptions{Dir: dir, Name: "a", Backdate: -1}, "--backdate"},
		{"fail/key-type", IssueOptions{Dir: dir, Name: "a", KeyType: "ed448"}, "--key-type"},
		{"fail/outlives-ca", IssueOptions{Dir: dir, Name: "a", Days: 20 * 365}, "after the CA"},
		{"fail/no-ca", IssueOptions{Dir: t.TempDir(), Name: "a"}, "pki init"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Issue(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "clients")); err == nil {
				t.Error("failed Issue created clients/")
			}
		})
	}
}

func TestIssueRefusesWithoutForce(t *testing.T) {
	dir := newPKI(t, InitOptions{})
	first := issue(t, IssueOptions{Dir: dir, Name: "pos-001"})
	before := snapshot(t, dir)

	_, err := Issue(IssueOptions{Dir: dir, Name: "pos-001"})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), first.KeyPath) {
		t.Fatalf("err = %v, want ErrExists naming %s", err, first.KeyPath)
	}
	if after := snapshot(t, dir); !maps.Equal(before, after) {
		t.Error("refused Issue changed files")
	}

	second := issue(t, IssueOptions{Dir: dir, Name: "pos-001", Force: true})
	if second.Cert.Equal(first.Cert) {
		t.Error("--force kept the old certificate")
	}
}

func TestIssueP12(t *testing.T) {
	skipModesOnWindows(t)
	t.Run("ok/generated-password", func(t *testing.T) {
		dir := newPKI(t, InitOptions{})
		res := issue(t, IssueOptions{Dir: dir, Name: "pos-001", P12: true})
		if res.P12Path != filepath.Join(dir, "clients", "pos-001.p12") || res.P12PassPath != filepath.Join(dir, "clients", "pos-001.p12.pass") {
			t.Fatalf("P12Path = %q, P12PassPath = %q", res.P12Path, res.P12PassPath)
		}
		for _, p := range []string{res.P12Path, res.P12PassPath} {
			if got := fileMode(t, p); got != 0o600 {
				t.Errorf("%s mode = %v, want 0600", p, got)
			}
		}
		pass, err := readPasswordFile(res.P12PassPath)
		if err != nil {
			t.Fatal(err)
		}
		if len(pass) < 26 {
			t.Errorf("generated password %q is too short", pass)
		}
		checkP12(t, dir, res, pass)
	})
	t.Run("ok/given-password", func(t *testing.T) {
		dir := newPKI(t, InitOptions{})
		res := issue(t, IssueOptions{Dir: dir, Name: "pos-001", P12: true, P12Password: "correct horse"})
		if res.P12PassPath != "" {
			t.Errorf("P12PassPath = %q, want none for a given password", res.P12PassPath)
		}
		if _, err := os.Stat(filepath.Join(dir, "clients", "pos-001.p12.pass")); err == nil {
			t.Error(".p12.pass written for a given password")
		}
		checkP12(t, dir, res, "correct horse")
		if _, _, _, err := pkcs12.DecodeChain(mustRead(t, res.P12Path), "wrong"); err == nil {
			t.Error("p12 opens with a wrong password")
		}
	})
	t.Run("ok/force-without-p12-removes-stale-bundle", func(t *testing.T) {
		dir := newPKI(t, InitOptions{})
		old := issue(t, IssueOptions{Dir: dir, Name: "pos-001", P12: true})
		res := issue(t, IssueOptions{Dir: dir, Name: "pos-001", Force: true})
		if !slices.Equal(res.Removed, []string{old.P12Path, old.P12PassPath}) {
			t.Errorf("Removed = %q", res.Removed)
		}
		if got := listDir(t, filepath.Join(dir, "clients")); !slices.Equal(got, []string{"pos-001.crt", "pos-001.key"}) {
			t.Errorf("clients/ holds %q", got)
		}
	})
	t.Run("fail/existing-p12-without-force", func(t *testing.T) {
		dir := newPKI(t, InitOptions{})
		res := issue(t, IssueOptions{Dir: dir, Name: "pos-001", P12: true})
		if err := os.Remove(res.KeyPath); err != nil {
			t.Fatal(err)
		}
		if _, err := Issue(IssueOptions{Dir: dir, Name: "pos-001"}); !errors.Is(err, ErrExists) {
			t.Errorf("err = %v, want ErrExists for the .p12 holding a key", err)
		}
	})
}

// checkP12 decodes the bundle and compares it with the PEM files.
func checkP12(t *testing.T, dir string, res *Issued, password string) {
	t.Helper()
	key, cert, cas, err := pkcs12.DecodeChain(mustRead(t, res.P12Path), password)
	if err != nil {
		t.Fatalf("DecodeChain: %v", err)
	}
	if !cert.Equal(mustReadCert(t, res.CertPath)) {
		t.Error("p12 certificate differs from NAME.crt")
	}
	pemKey, err := readKey(res.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := key.(interface{ Equal(crypto.PrivateKey) bool }); !ok || !k.Equal(pemKey) {
		t.Error("p12 key differs from NAME.key")
	}
	if len(cas) != 1 || !cas[0].Equal(mustReadCert(t, filepath.Join(dir, CACertFile))) {
		t.Errorf("p12 CA certificates = %d, want the dev CA", len(cas))
	}
}

func TestReadPasswordFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
		ok                  bool
	}{
		{"ok/plain", "secret", "secret", true},
		{"ok/trailing-newline", "secret\n", "secret", true},
		{"ok/crlf", "secret\r\n", "secret", true},
		{"ok/first-line-only", "secret\nsecond\n", "secret", true},
		{"ok/inner-spaces-kept", " a b \n", " a b ", true},
		{"fail/empty", "", "", false},
		{"fail/empty-first-line", "\nsecret\n", "", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strconv.Itoa(i))
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readPasswordFile(path)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("readPasswordFile(%q) = %q, %v; want %q, ok=%v", tt.content, got, err, tt.want, tt.ok)
			}
		})
	}
	if _, err := readPasswordFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing password file accepted")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
