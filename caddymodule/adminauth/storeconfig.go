package adminauth

import (
	"context"
	"fmt"
	"strings"
)

// StoreConfig says where accounts live.
type StoreConfig struct {
	// Driver is "sqlite" (the default: an embedded database file, no
	// server) or "postgres" (several gateways sharing accounts, sessions
	// and lockout counters).
	Driver string `json:"driver,omitempty"`
	// Path is the SQLite database file, created 0600 if missing.
	Path string `json:"path,omitempty"`
	// DSNEnv names the environment variable holding the PostgreSQL DSN;
	// DSNFile names a file holding it. The DSN itself never appears in the
	// config, which Caddy's admin API can show.
	DSNEnv  string `json:"dsn_env,omitempty"`
	DSNFile string `json:"dsn_file,omitempty"`
}

// ParseStoreSpec reads the command line form: sqlite:PATH,
// postgres:env:NAME or postgres:file:PATH.
func ParseStoreSpec(spec string) (StoreConfig, error) {
	kind, rest, _ := strings.Cut(spec, ":")
	var c StoreConfig
	switch kind {
	case "sqlite":
		c = StoreConfig{Driver: "sqlite", Path: rest}
	case "postgres":
		src, val, _ := strings.Cut(rest, ":")
		switch src {
		case "env":
			c = StoreConfig{Driver: "postgres", DSNEnv: val}
		case "file":
			c = StoreConfig{Driver: "postgres", DSNFile: val}
		default:
			return c, fmt.Errorf("store %q: want postgres:env:NAME or postgres:file:PATH (the DSN itself stays off the command line)", spec)
		}
	default:
		return c, fmt.Errorf("store %q: want sqlite:PATH, postgres:env:NAME or postgres:file:PATH", spec)
	}
	return c, c.Validate()
}

// Validate checks the fields fit the driver.
func (c StoreConfig) Validate() error {
	switch c.Driver {
	case "", "sqlite":
		if c.Path == "" {
			return fmt.Errorf("store: sqlite needs a path")
		}
		if c.DSNEnv != "" || c.DSNFile != "" {
			return fmt.Errorf("store: sqlite takes no dsn")
		}
	case "postgres":
		if (c.DSNEnv == "") == (c.DSNFile == "") {
			return fmt.Errorf("store: postgres needs exactly one of dsn_env, dsn_file")
		}
		if c.Path != "" {
			return fmt.Errorf("store: postgres takes no path")
		}
	default:
		return fmt.Errorf("store: driver %q: want sqlite or postgres", c.Driver)
	}
	return nil
}

// Open opens the configured store.
func (c StoreConfig) Open(ctx context.Context) (Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Driver == "postgres" {
		dsn, err := SecretSource{File: c.DSNFile, Env: c.DSNEnv}.read("store dsn")
		if err != nil {
			return nil, err
		}
		return OpenPostgres(ctx, strings.TrimSpace(string(dsn)))
	}
	return OpenSQLite(ctx, c.Path)
}
