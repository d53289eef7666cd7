package devpki

import (
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File names inside a PKI directory. Scripts, `make run` and the e2e suite
// refer to these names, so they must not change.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	CRLFile        = "ca.crl"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
	ClientsDir     = "clients"
)

// File modes. Private keys, PKCS#12 bundles and their passwords are secrets;
// certificates and the CRL are public.
const (
	secretMode os.FileMode = 0o600
	publicMode os.FileMode = 0o644
	dirMode    os.FileMode = 0o700
)

// PEM block types written and expected.
const (
	pemCertificate = "CERTIFICATE"
	pemPrivateKey  = "PRIVATE KEY"
	pemCRL         = "X509 CRL"
)

// layout spells the paths of one PKI directory.
type layout struct{ dir string }

func (l layout) caCert() string     { return filepath.Join(l.dir, CACertFile) }
func (l layout) caKey() string      { return filepath.Join(l.dir, CAKeyFile) }
func (l layout) crl() string        { return filepath.Join(l.dir, CRLFile) }
func (l layout) serverCert() string { return filepath.Join(l.dir, ServerCertFile) }
func (l layout) serverKey() string  { return filepath.Join(l.dir, ServerKeyFile) }
func (l layout) clients() string    { return filepath.Join(l.dir, ClientsDir) }

// clientFile is DIR/clients/NAME+ext. name must have passed ValidateName,
// which is what keeps it inside the clients directory.
func (l layout) clientFile(name, ext string) string {
	return filepath.Join(l.clients(), name+ext)
}

// writeFileAtomic writes data to a new temporary file next to path and renames
// it over path, so readers (and a crash) see either the old file or the whole
// new one. The temporary file is created with perm, so a key is never readable
// by others, not even for a moment; the process umask can only narrow it.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// 130 random bits: a collision with another writer is not a concern,
	// and O_EXCL makes one an error rather than a shared file.
	tmp := filepath.Join(dir, "."+base+".tmp-"+rand.Text())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	// Without the sync, a crash after the rename can leave an empty file
	// under the final name on some filesystems.
	if err = f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	return nil
}

// pendingFile is one file to be written by writeAll.
type pendingFile struct {
	path string
	data []byte
	perm os.FileMode
}

// writeAll writes files in order and returns the paths written.
func writeAll(files []pendingFile) ([]string, error) {
	written := make([]string, 0, len(files))
	for _, f := range files {
		if err := writeFileAtomic(f.path, f.data, f.perm); err != nil {
			return written, err
		}
		written = append(written, f.path)
	}
	return written, nil
}

// exists reports whether path exists. Errors other than "does not exist"
// (permission denied on the directory, say) are returned rather than taken
// as "no", so a refusal to overwrite cannot be bypassed by an unreadable dir.
func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("checking %s: %w", path, err)
	}
}

// readPEM returns the first PEM block of type want in the file at path.
func readPEM(path, want string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("no %q PEM block in %s", want, path)
		}
		if b.Type == want {
			return b, nil
		}
	}
}

// encodePEM is pem.EncodeToMemory for a block without headers.
func encodePEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
