package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pkiFixture is the suite's PKI, made once with the real `crgate pki`:
//
//	alpha, bravo   registered, active (Patient.search, Patient.read)
//	delta          registered, active, with deltaScopes (fhir_guard tests)
//	charlie        registered, disabled
//	expired        registered, certificate expired
//	revoked        registered, certificate in the CRL
//	stranger       issued by the trusted CA, not registered
//	foreign        registered, but issued by an untrusted CA
//	servercert     the gateway's server certificate, registered, presented
//	               as a client certificate (wrong key usage)
type pkiFixture struct {
	dir     string // the trusted dev CA: ca.crt, server.*, ca.crl, clients/
	foreign string // another CA's directory
	clients []byte // the clients file registering the nodes above
	fp      map[string]string
	caPool  *x509.CertPool
}

var registered = map[string]string{
	"alpha":      "active",
	"delta":      "active",
	"bravo":      "active",
	"charlie":    "disabled",
	"expired":    "active",
	"revoked":    "active",
	"foreign":    "active",
	"servercert": "active",
}

func crgate(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(crgateBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("crgate %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), nil
}

func newPKIFixture(dir string) (*pkiFixture, error) {
	f := &pkiFixture{dir: filepath.Join(dir, "dev"), foreign: filepath.Join(dir, "foreign"), fp: map[string]string{}}
	if _, err := crgate("pki", "init", "--dir", f.dir); err != nil {
		return nil, err
	}
	if _, err := crgate("pki", "init", "--dir", f.foreign); err != nil {
		return nil, err
	}
	issue := func(caDir, name string, extra ...string) error {
		out, err := crgate(append([]string{"pki", "issue", "--dir", caDir, "--name", name}, extra...)...)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			if fp, ok := strings.CutPrefix(sc.Text(), "fingerprint: "); ok {
				f.fp[name] = fp
				return nil
			}
		}
		return fmt.Errorf("no fingerprint line in:\n%s", out)
	}
	for _, name := range []string{"alpha", "bravo", "charlie", "delta", "revoked", "stranger"} {
		if err := issue(f.dir, name); err != nil {
			return nil, err
		}
	}
	if err := issue(f.dir, "expired", "--days", "1", "--backdate", "3"); err != nil {
		return nil, err
	}
	if err := issue(f.foreign, "foreign"); err != nil {
		return nil, err
	}
	if _, err := crgate("pki", "revoke", "--dir", f.dir, "--name", "revoked"); err != nil {
		return nil, err
	}
	// The foreign and server certificates live beside the others for the
	// clients to present.
	for src, name := range map[string]string{
		filepath.Join(f.foreign, "clients", "foreign"): "foreign",
		filepath.Join(f.dir, "server"):                 "servercert",
	} {
		for _, ext := range []string{".crt", ".key"} {
			data, err := os.ReadFile(src + ext)
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(f.dir, "clients", name+ext), data, 0o600); err != nil {
				return nil, err
			}
		}
	}
	out, err := crgate("clients", "add", "--file", filepath.Join(dir, "clients.json"), "--id", "servercert", "--name", "Node servercert",
		"--cert", filepath.Join(f.dir, "server.crt"), "--scope", "Patient.search")
	if err != nil {
		return nil, err
	}
	if !strings.Contains(out, "added node") {
		return nil, fmt.Errorf("clients add: %s", out)
	}
	clientsPath := filepath.Join(dir, "clients.json")
	for _, name := range []string{"alpha", "bravo", "charlie", "expired", "revoked", "foreign"} {
		args := []string{"clients", "add", "--file", clientsPath, "--id", name, "--name", "Node " + name,
			"--fingerprint", f.fp[name], "--scope", "Patient.search,Patient.read"}
		if registered[name] == "disabled" {
			args = append(args, "--disabled")
		}
		if _, err := crgate(args...); err != nil {
			return nil, err
		}
	}
	if _, err := crgate("clients", "add", "--file", clientsPath, "--id", "delta", "--name", "Node delta",
		"--fingerprint", f.fp["delta"], "--scope", strings.Join(deltaScopes, ",")); err != nil {
		return nil, err
	}
	if f.clients, err = os.ReadFile(clientsPath); err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(f.dir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	f.caPool = x509.NewCertPool()
	if !f.caPool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s/ca.crt", f.dir)
	}
	return f, nil
}

// cert loads a client's certificate and key.
func (f *pkiFixture) cert(t testing.TB, name string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(f.dir, "clients", name+".crt"), filepath.Join(f.dir, "clients", name+".key"))
	if err != nil {
		t.Fatalf("loading client %s: %v", name, err)
	}
	return c
}
