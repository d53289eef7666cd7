package audit

import (
	"testing"

	"github.com/crgate/crgate/internal/adapttest"
)

func TestCaddyfileAdapt(t *testing.T) {
	adapttest.Run(t, "testdata")
}
