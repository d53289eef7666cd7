package main

import (
	"os"
	"runtime"
	"strconv"
)

// minProcs is the fewest Ps crgate runs with. The audit spool and the file
// sink fsync on the request path's behalf (sync durability waits for it),
// and a goroutine in fsync keeps its P for the whole call: with one P
// (Go's choice on a one-CPU host or container) every request then waits on
// the disk. Measured on one pinned core, sync audit at 64 connections:
// ~720 req/s with GOMAXPROCS=1, ~5,480 with 4. More Ps than that cost:
// with 4 Ps on one core the threads preempt each other, and async
// preemption took ~14 % of the CPU against ~1 % with 2, with a longer
// latency tail (docs/performance.md).
const minProcs = 2

// raiseProcs lifts GOMAXPROCS to minProcs unless the operator set
// GOMAXPROCS, which always wins. Setting the variable too keeps Caddy's
// automaxprocs (run at `crgate run`) from lowering it again to the CPU
// quota.
func raiseProcs() {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		return
	}
	if runtime.GOMAXPROCS(0) >= minProcs {
		return
	}
	runtime.GOMAXPROCS(minProcs)
	_ = os.Setenv("GOMAXPROCS", strconv.Itoa(minProcs))
}
