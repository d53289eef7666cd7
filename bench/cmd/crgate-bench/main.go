// Command crgate-bench is `make bench`: the registry simulator directly,
// plain Caddy, nginx and crgate side by side on loopback, in alternating
// trials, reported as medians and same-trial ratios in bench/results.md.
// See package driver and docs/performance.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/crgate/crgate/bench/driver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := driver.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
