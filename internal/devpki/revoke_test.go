package devpki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRevoke(t *testing.T) {
	skipModesOnWindows(t)
	dir := newPKI(t, InitOptions{})
	a := issue(t, IssueOptions{Dir: dir, Name: "pos-a"})
	b := issue(t, IssueOptions{Dir: dir, Name: "pos-b"})
	crlPath := filepath.Join(dir, CRLFile)

	t1 := time.Now().Add(-time.Hour).Truncate(time.Second)
	setNow(t, t1)
	res, err := Revoke(RevokeOptions{Dir: dir, Name: "pos-a"})
	if err != nil {
		t.Fatalf("Revoke a: %v", err)
	}
	if res.AlreadyRevoked || res.Entries != 1 || res.Number.Int64() != 2 || res.CRLPath != crlPath || res.Serial.Cmp(a.Cert.SerialNumber) != 0 {
		t.Fatalf("Revoke a = %+v", res)
	}
	crl := mustReadCRL(t, dir)
	if crl.Number.Int64() != 2 || !hasSerials(crl.RevokedCertificateEntries, a.Cert.SerialNumber) {
		t.Fatalf("CRL after a: Number %v, entries %v", crl.Number, crl.RevokedCertificateEntries)
	}
	if !crl.ThisUpdate.Equal(t1) || !crl.NextUpdate.Equal(t1.Add(30*24*time.Hour)) {
		t.Errorf("CRL ThisUpdate %v NextUpdate %v, want %v + 30 days", crl.ThisUpdate, crl.NextUpdate, t1)
	}

	t2 := t1.Add(10 * time.Minute)
	setNow(t, t2)
	res, err = Revoke(RevokeOptions{Dir: dir, Name: "pos-b"})
	if err != nil {
		t.Fatalf("Revoke b: %v", err)
	}
	if res.Entries != 2 || res.Number.Int64() != 3 {
		t.Fatalf("Revoke b = %+v", res)
	}
	crl = mustReadCRL(t, dir)
	if crl.Number.Int64() != 3 || !hasSerials(crl.RevokedCertificateEntries, a.Cert.SerialNumber, b.Cert.SerialNumber) {
		t.Fatalf("CRL after b: Number %v, entries %v", crl.Number, crl.RevokedCertificateEntries)
	}
	// a's entry is carried over as it was, not re-dated.
	if got := crl.RevokedCertificateEntries[0].RevocationTime; !got.Equal(t1) {
		t.Errorf("a's revocation time = %v, want %v", got, t1)
	}
	if got, want := fileMode(t, crlPath), effectiveMode(t, 0o644); got != want {
		t.Errorf("CRL mode = %v, want %v", got, want)
	}
	if got := listDir(t, dir); len(got) != 6 { // 5 files + clients/
		t.Errorf("directory holds %q (temporary files left behind?)", got)
	}

	// Revoking again changes nothing.
	before := mustRead(t, crlPath)
	res, err = Revoke(RevokeOptions{Dir: dir, Name: "pos-a"})
	if err != nil {
		t.Fatalf("Revoke a again: %v", err)
	}
	if !res.AlreadyRevoked || res.Entries != 2 || res.Number.Int64() != 3 {
		t.Errorf("Revoke a again = %+v", res)
	}
	if after := mustRead(t, crlPath); string(after) != string(before) {
		t.Error("revoking an already revoked certificate rewrote the CRL")
	}
}

func TestRevokeKeepsEntryDetails(t *testing.T) {
	// A CRL written by other tooling may carry reason codes and entry
	// extensions; Revoke must carry them over.
	dir := newPKI(t, InitOptions{})
	c, err := loadCA(layout{dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	invalidity := pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 24}, Value: []byte{0x18, 0x0f, '2', '0', '2', '4', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0', 'Z'}}
	revokedAt := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	pemCRL, err := c.makeCRL(big.NewInt(7), []x509.RevocationListEntry{
		x509RevocationEntry(big.NewInt(42), revokedAt, 1, invalidity),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CRLFile), pemCRL, 0o644); err != nil {
		t.Fatal(err)
	}
	issue(t, IssueOptions{Dir: dir, Name: "pos-a"})
	if _, err := Revoke(RevokeOptions{Dir: dir, Name: "pos-a"}); err != nil {
		t.Fatal(err)
	}
	crl := mustReadCRL(t, dir)
	if crl.Number.Int64() != 8 || len(crl.RevokedCertificateEntries) != 2 {
		t.Fatalf("Number %v, %d entries; want 8, 2", crl.Number, len(crl.RevokedCertificateEntries))
	}
	e := crl.RevokedCertificateEntries[0]
	if e.SerialNumber.Int64() != 42 || !e.RevocationTime.Equal(revokedAt) || e.ReasonCode != 1 {
		t.Errorf("carried entry = serial %v time %v reason %d", e.SerialNumber, e.RevocationTime, e.ReasonCode)
	}
	var found bool
	for _, ext := range e.Extensions {
		found = found || ext.Id.Equal(invalidity.Id)
	}
	if !found {
		t.Error("invalidity date extension dropped")
	}
}

func TestRevokeErrors(t *testing.T) {
	dir := newPKI(t, InitOptions{})
	issue(t, IssueOptions{Dir: dir, Name: "pos-a"})
	other := newPKI(t, InitOptions{})
	issue(t, IssueOptions{Dir: other, Name: "foreign"})

	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		rname string
		want  string
	}{
		{"fail/bad-name", nil, "../pos-a", "--name"},
		{"fail/unknown-client", nil, "nobody", filepath.Join("clients", "nobody.crt")},
		{"fail/cert-from-other-ca", func(t *testing.T, dir string) {
			copyFile(t, filepath.Join(other, "clients", "foreign.crt"), filepath.Join(dir, "clients", "foreign.crt"))
		}, "foreign", "not issued by the CA"},
		{"fail/crl-from-other-ca", func(t *testing.T, dir string) {
			copyFile(t, filepath.Join(other, CRLFile), filepath.Join(dir, CRLFile))
		}, "pos-a", "not signed by the CA"},
		{"fail/crl-missing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, CRLFile)); err != nil {
				t.Fatal(err)
			}
		}, "pos-a", "reading CRL"},
		{"fail/crl-garbage", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, CRLFile), []byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "pos-a", "parsing CRL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "pki")
			copyTree(t, dir, d)
			if tt.setup != nil {
				tt.setup(t, d)
			}
			before := snapshot(t, d)
			_, err := Revoke(RevokeOptions{Dir: d, Name: tt.rname})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
			if after := snapshot(t, d); len(after) != len(before) || after[filepath.Join(d, CRLFile)] != before[filepath.Join(d, CRLFile)] {
				t.Error("failed Revoke changed the CRL")
			}
		})
	}
}

// hasSerials reports whether entries list exactly want, in order.
func hasSerials(entries []x509.RevocationListEntry, want ...*big.Int) bool {
	if len(entries) != len(want) {
		return false
	}
	for i, e := range entries {
		if e.SerialNumber.Cmp(want[i]) != 0 {
			return false
		}
	}
	return true
}

func x509RevocationEntry(serial *big.Int, at time.Time, reason int, ext pkix.Extension) x509.RevocationListEntry {
	return x509.RevocationListEntry{SerialNumber: serial, RevocationTime: at, ReasonCode: reason, ExtraExtensions: []pkix.Extension{ext}}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, mustRead(t, from), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies a PKI directory, keeping file modes.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}
