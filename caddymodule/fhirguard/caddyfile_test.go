package fhirguard

import (
	"testing"

	"github.com/crgate/crgate/internal/adapttest"

	// fhir_outcome appears in the registry-site test.
	_ "github.com/crgate/crgate/caddymodule/outcome"
)

func TestCaddyfileAdapt(t *testing.T) {
	adapttest.Run(t, "testdata")
}
