package fhirsink

import (
	"testing"

	_ "github.com/crgate/crgate/caddymodule/audit" // the audit global option

	"github.com/crgate/crgate/internal/adapttest"
)

func TestAdapt(t *testing.T) {
	adapttest.Run(t, "testdata")
}
