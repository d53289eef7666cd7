// Package caddymodule blank-imports every crgate Caddy module so that a
// binary gets all of them with one import.
package caddymodule

import (
	_ "github.com/crgate/crgate/caddymodule/adminauth"
	_ "github.com/crgate/crgate/caddymodule/audit"
	_ "github.com/crgate/crgate/caddymodule/audit/fhirsink"
	_ "github.com/crgate/crgate/caddymodule/audit/filesink"
	_ "github.com/crgate/crgate/caddymodule/audit/syslogsink"
	_ "github.com/crgate/crgate/caddymodule/fhirguard"
	_ "github.com/crgate/crgate/caddymodule/nodeauth"
	_ "github.com/crgate/crgate/caddymodule/outcome"
	_ "github.com/crgate/crgate/caddymodule/registryproxy"
	_ "github.com/crgate/crgate/caddymodule/subnet"
)
