// Command crgate-load is the benchmark load generator: keep-alive HTTP/1.1
// or HTTP/2 workers, or a new TLS handshake per request, with a client
// certificate, against loopback targets only, bounded in time and count.
// Run it without arguments for its usage; see package loadgen.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/crgate/crgate/bench/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := loadgen.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
