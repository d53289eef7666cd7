// Package e2e is crgate's end-to-end suite: it starts the real crgate
// binary with a real Caddyfile and the registry simulator on loopback, and
// talks to them with real TLS clients and certificates made by `crgate pki`.
//
// `make test` passes the binaries it built in CRGATE_BIN and
// REGISTRY_SIM_BIN; without them the suite builds its own.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var (
	repoRoot  string
	crgateBin string
	simBin    string
	fixtures  *pkiFixture
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	repoRoot = filepath.Dir(wd)
	tmp, err := os.MkdirTemp("", "crgate-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)

	if crgateBin, err = binary("CRGATE_BIN", "./cmd/crgate", filepath.Join(tmp, "crgate")); err != nil {
		return 0, err
	}
	if simBin, err = binary("REGISTRY_SIM_BIN", "./examples/registry-sim", filepath.Join(tmp, "registry-sim")); err != nil {
		return 0, err
	}
	if fixtures, err = newPKIFixture(filepath.Join(tmp, "pki")); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// binary returns the binary named by env, or builds pkg into out.
func binary(env, pkg, out string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", env, err)
		}
		return p, nil
	}
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = repoRoot
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s: %w", pkg, err)
	}
	return out, nil
}
