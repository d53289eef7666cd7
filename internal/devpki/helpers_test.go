package devpki

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

// newPKI runs Init in a fresh temporary directory and returns the directory.
func newPKI(t *testing.T, opts InitOptions) string {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "pki")
	}
	if _, err := Init(opts); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return opts.Dir
}

// issue runs Issue and fails the test on error.
func issue(t *testing.T, opts IssueOptions) *Issued {
	t.Helper()
	res, err := Issue(opts)
	if err != nil {
		t.Fatalf("Issue(%q): %v", opts.Name, err)
	}
	return res
}

func mustReadCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := readCert(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustReadCRL(t *testing.T, dir string) *x509.RevocationList {
	t.Helper()
	c, err := loadCA(layout{dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	crl, err := c.readCRL(filepath.Join(dir, CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

func caPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(mustReadCert(t, filepath.Join(dir, CACertFile)))
	return pool
}

// setNow fixes the package clock for one test.
func setNow(t *testing.T, at time.Time) {
	t.Helper()
	now = func() time.Time { return at }
	t.Cleanup(func() { now = time.Now })
}

// effectiveMode is the permission a file created with perm actually gets
// here: the process umask may narrow it, and the code honours the umask.
func effectiveMode(t *testing.T, perm os.FileMode) os.FileMode {
	t.Helper()
	probe := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(probe, nil, perm); err != nil {
		t.Fatal(err)
	}
	return fileMode(t, probe)
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// skipModesOnWindows: Windows has no Unix permission bits to check.
func skipModesOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes on windows")
	}
}

// snapshot maps every file under dir to its contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		m[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}
