// Command registry-sim answers like an OpenCR + HAPI FHIR + Elasticsearch
// install, on loopback only, and records every request it receives so the
// crgate end-to-end tests can prove what reached the registry and what did
// not. It is the default upstream of `make run` and of the benchmarks.
//
//	registry-sim [--listen 127.0.0.1:3000] [--control 127.0.0.1:3099]
//	             [--patients 40] [--addr-file PATH] [--record=true]
//	             [--max-records 100000]
//
// See package sim for the control API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/crgate/crgate/examples/registry-sim/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "registry-sim:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("registry-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg sim.Config
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:3000", "registry surface `address` (loopback only)")
	fs.StringVar(&cfg.Control, "control", "127.0.0.1:3099", "control API `address` (loopback only)")
	fs.IntVar(&cfg.Patients, "patients", sim.DefaultPatients, fmt.Sprintf("number of synthetic patients (1..%d)", sim.MaxPatients))
	fs.StringVar(&cfg.AddrFile, "addr-file", "", "once both listeners are bound, atomically write their addresses as JSON to this `path`")
	record := fs.Bool("record", true, "record every request to the registry surface (false for benchmarks)")
	fs.IntVar(&cfg.MaxRecords, "max-records", sim.DefaultMaxRecords, "keep at most this many recorded requests")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "registry-sim: unexpected arguments: %q\n", fs.Args())
		return errUsage
	}
	// Zero would silently mean "the default" to package sim.
	if cfg.Patients < 1 || cfg.Patients > sim.MaxPatients {
		return fmt.Errorf("--patients %d: must be 1..%d", cfg.Patients, sim.MaxPatients)
	}
	if cfg.MaxRecords < 1 {
		return fmt.Errorf("--max-records %d: must be positive", cfg.MaxRecords)
	}
	cfg.NoRecord = !*record
	cfg.Log = log.New(stderr, "", log.LstdFlags)
	return sim.Run(ctx, cfg)
}
