package devpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestInitWritesFilesWithModes(t *testing.T) {
	skipModesOnWindows(t)
	dir := filepath.Join(t.TempDir(), "new", "pki")
	res, err := Init(InitOptions{Dir: dir})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	want := []string{
		filepath.Join(dir, "ca.crt"),
		filepath.Join(dir, "ca.key"),
		filepath.Join(dir, "server.crt"),
		filepath.Join(dir, "server.key"),
		filepath.Join(dir, "ca.crl"),
	}
	if !slices.Equal(res.Files, want) {
		t.Fatalf("Files = %q, want %q", res.Files, want)
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{"ca.crl", "ca.crt", "ca.key", "server.crt", "server.key"}) {
		t.Fatalf("directory holds %q (temporary files left behind?)", got)
	}
	public := effectiveMode(t, 0o644)
	for name, mode := range map[string]os.FileMode{
		"ca.crt": public, "server.crt": public, "ca.crl": public,
		// Keys must be exactly 0600 whatever the umask.
		"ca.key": 0o600, "server.key": 0o600,
	} {
		if got := fileMode(t, filepath.Join(dir, name)); got != mode {
			t.Errorf("%s mode = %v, want %v", name, got, mode)
		}
	}
	if got := fileMode(t, dir); got&0o077 != 0 {
		t.Errorf("directory mode = %v, want no group/other access", got)
	}
}

func TestInitCA(t *testing.T) {
	dir := newPKI(t, InitOptions{})
	ca := mustReadCert(t, filepath.Join(dir, CACertFile))
	if ca.Subject.CommonName != "crgate dev CA" {
		t.Errorf("CA CN = %q", ca.Subject.CommonName)
	}
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
		t.Errorf("CA basic constraints: IsCA=%v valid=%v MaxPathLen=%d zero=%v", ca.IsCA, ca.BasicConstraintsValid, ca.MaxPathLen, ca.MaxPathLenZero)
	}
	if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("CA KeyUsage = %v", ca.KeyUsage)
	}
	if years := ca.NotAfter.Sub(ca.NotBefore).Hours() / 24 / 365; years < 9.9 || years > 10.1 {
		t.Errorf("CA validity = %.1f years, want ~10", years)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}
	pub, ok := ca.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key = %T, want ECDSA P-256 by default", ca.PublicKey)
	}

	crl := mustReadCRL(t, dir) // also checks the signature
	if crl.Number.Int64() != 1 || len(crl.RevokedCertificateEntries) != 0 {
		t.Errorf("initial CRL: Number %v, %d entries; want 1, 0", crl.Number, len(crl.RevokedCertificateEntries))
	}
	if d := crl.NextUpdate.Sub(crl.ThisUpdate); d != 30*24*time.Hour {
		t.Errorf("CRL NextUpdate - ThisUpdate = %v, want 30 days", d)
	}
}

func TestInitServerCertVerifies(t *testing.T) {
	dir := newPKI(t, InitOptions{Hosts: []string{"gw.example.test", "10.1.2.3", "fd00::7", "LOCALHOST"}, Days: 30})
	server := mustReadCert(t, filepath.Join(dir, ServerCertFile))
	roots := caPool(t, dir)
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "gw.example.test", "10.1.2.3", "fd00::7"} {
		if _, err := server.Verify(x509.VerifyOptions{
			DNSName:   host,
			Roots:     roots,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", host, err)
		}
	}
	if _, err := server.Verify(x509.VerifyOptions{DNSName: "other.example.test", Roots: roots}); err == nil {
		t.Error("server certificate verifies for a host it was not issued for")
	}
	if _, err := server.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("server certificate verifies for client auth")
	}
	if len(server.DNSNames) != 2 || len(server.IPAddresses) != 4 {
		t.Errorf("SANs = %q %v: duplicates or missing entries", server.DNSNames, server.IPAddresses)
	}
	if d := server.NotAfter.Sub(server.NotBefore); d != 30*24*time.Hour+clockSkew {
		t.Errorf("server validity = %v, want 30 days (plus clock skew)", d)
	}
}

func TestInitDefaultServerDays(t *testing.T) {
	at := time.Now().Truncate(time.Second)
	setNow(t, at)
	dir := newPKI(t, InitOptions{})
	server := mustReadCert(t, filepath.Join(dir, ServerCertFile))
	if want := at.AddDate(0, 0, 825); !server.NotAfter.Equal(want) {
		t.Errorf("server NotAfter = %v, want %v", server.NotAfter, want)
	}
}

func TestInitRefusesWithoutForce(t *testing.T) {
	t.Run("fail/existing-pki-unchanged", func(t *testing.T) {
		dir := newPKI(t, InitOptions{})
		before := snapshot(t, dir)
		_, err := Init(InitOptions{Dir: dir, Hosts: []string{"x.test"}})
		if !errors.Is(err, ErrExists) {
			t.Fatalf("Init over an existing CA: err = %v, want ErrExists", err)
		}
		for _, want := range []string{filepath.Join(dir, "ca.key"), "--force"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if after := snapshot(t, dir); !maps.Equal(before, after) {
			t.Error("refused Init changed the directory")
		}
	})
	t.Run("fail/only-ca-key-nothing-written", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, CAKeyFile), []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Init(InitOptions{Dir: dir}); !errors.Is(err, ErrExists) {
			t.Fatalf("err = %v, want ErrExists", err)
		}
		if got := listDir(t, dir); !slices.Equal(got, []string{"ca.key"}) {
			t.Errorf("refused Init wrote files: %q", got)
		}
	})
	t.Run("ok/force-makes-new-ca", func(t *testing.T) {
		dir := newPKI(t, InitOptions{})
		old := mustReadCert(t, filepath.Join(dir, CACertFile))
		if _, err := Init(InitOptions{Dir: dir, Force: true}); err != nil {
			t.Fatalf("Init --force: %v", err)
		}
		if mustReadCert(t, filepath.Join(dir, CACertFile)).Equal(old) {
			t.Error("--force kept the old CA")
		}
		mustReadCRL(t, dir) // the CRL is re-signed by the new CA
	})
}

func TestInitOptionErrorsWriteNothing(t *testing.T) {
	tests := []struct {
		name string
		opts InitOptions
	}{
		{"fail/bad-host", InitOptions{Hosts: []string{"a,b"}}},
		{"fail/host-with-zone", InitOptions{Hosts: []string{"fe80::1%eth0"}}},
		{"fail/negative-days", InitOptions{Days: -1}},
		{"fail/key-type", InitOptions{KeyType: "dsa-1024"}},
		{"fail/outlives-ca", InitOptions{Days: 20 * 365}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Dir = filepath.Join(t.TempDir(), "pki")
			if _, err := Init(tt.opts); err == nil {
				t.Fatal("Init succeeded")
			}
			if entries, err := os.ReadDir(tt.opts.Dir); err == nil && len(entries) > 0 {
				t.Errorf("failed Init left files: %v", entries)
			}
		})
	}
	if _, err := Init(InitOptions{}); err == nil {
		t.Error("Init without a directory succeeded")
	}
}

func TestInitKeyTypes(t *testing.T) {
	tests := []struct {
		kt    KeyType
		check func(any) bool
	}{
		{KeyECDSAP256, func(k any) bool { p, ok := k.(*ecdsa.PublicKey); return ok && p.Curve == elliptic.P256() }},
		{KeyECDSAP384, func(k any) bool { p, ok := k.(*ecdsa.PublicKey); return ok && p.Curve == elliptic.P384() }},
		{KeyRSA2048, func(k any) bool { p, ok := k.(*rsa.PublicKey); return ok && p.N.BitLen() == 2048 }},
		{KeyRSA3072, func(k any) bool { p, ok := k.(*rsa.PublicKey); return ok && p.N.BitLen() == 3072 }},
	}
	for _, tt := range tests {
		t.Run("ok/"+string(tt.kt), func(t *testing.T) {
			dir := newPKI(t, InitOptions{KeyType: tt.kt})
			for _, name := range []string{CACertFile, ServerCertFile} {
				if c := mustReadCert(t, filepath.Join(dir, name)); !tt.check(c.PublicKey) {
					t.Errorf("%s key is %T, want %s", name, c.PublicKey, tt.kt)
				}
			}
			// The key files must load back and match.
			if _, err := loadCA(layout{dir: dir}); err != nil {
				t.Error(err)
			}
			key, err := readKey(filepath.Join(dir, ServerKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			server := mustReadCert(t, filepath.Join(dir, ServerCertFile))
			if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(server.PublicKey) {
				t.Error("server.key does not match server.crt")
			}
			if _, isRSA := key.(*rsa.PrivateKey); isRSA != (server.KeyUsage&x509.KeyUsageKeyEncipherment != 0) {
				t.Errorf("server KeyUsage %v for %T", server.KeyUsage, key)
			}
		})
	}
}
