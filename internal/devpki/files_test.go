package devpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	skipModesOnWindows(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.key")

	// An existing world-readable file is replaced by a 0600 one: the mode
	// comes from the new temporary file, not the old inode.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, path)); got != "new" {
		t.Errorf("content = %q", got)
	}
	if got := fileMode(t, path); got != 0o600 {
		t.Errorf("mode = %v, want 0600", got)
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{"x.key"}) {
		t.Errorf("directory holds %q, want no temporary files", got)
	}

	err := writeFileAtomic(filepath.Join(dir, "missing", "y"), []byte("z"), 0o600)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing", "y")) {
		t.Errorf("write into a missing directory: err = %v, want one naming the file", err)
	}
}

func TestReadKeyForms(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := marshalKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	sec1DER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := encodePEM(pemCertificate, []byte{0x30, 0x00})
	tests := []struct {
		name    string
		content []byte
		want    crypto.Signer
	}{
		{"ok/pkcs8", pkcs8, ec},
		{"ok/sec1", encodePEM("EC PRIVATE KEY", sec1DER), ec},
		{"ok/pkcs1", encodePEM("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), rsaKey},
		{"ok/after-other-blocks", append(certPEM, pkcs8...), ec},
		{"fail/no-key", certPEM, nil},
		{"fail/empty", nil, nil},
		{"fail/garbage-der", encodePEM(pemPrivateKey, []byte("nope")), nil},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, "/", "-"))
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readKey(path)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), path) {
					t.Fatalf("readKey = %v, %v; want an error naming the file", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k, ok := got.(interface{ Equal(crypto.PrivateKey) bool }); !ok || !k.Equal(tt.want) {
				t.Error("key read back differs")
			}
		})
	}
}

func TestLoadCARejectsMismatchedKey(t *testing.T) {
	dir := newPKI(t, InitOptions{})
	other := newPKI(t, InitOptions{})
	copyFile(t, filepath.Join(other, CAKeyFile), filepath.Join(dir, CAKeyFile))
	_, err := Issue(IssueOptions{Dir: dir, Name: "pos-a"})
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("err = %v, want a key mismatch error", err)
	}
}

func TestParseKeyType(t *testing.T) {
	tests := []struct {
		name, in string
		want     KeyType
		ok       bool
	}{
		{"ok/default", "", KeyECDSAP256, true},
		{"ok/p256", "ecdsa-p256", KeyECDSAP256, true},
		{"ok/p384", "ecdsa-p384", KeyECDSAP384, true},
		{"ok/rsa2048", "rsa-2048", KeyRSA2048, true},
		{"ok/rsa3072", "rsa-3072", KeyRSA3072, true},
		{"fail/rsa1024", "rsa-1024", "", false},
		{"fail/case", "ECDSA-P256", "", false},
		{"fail/ed25519", "ed25519", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKeyType(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseKeyType(%q) = %q, %v", tt.in, got, err)
			}
		})
	}
}
