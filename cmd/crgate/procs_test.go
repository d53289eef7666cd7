package main

import (
	"os"
	"runtime"
	"testing"
)

func TestRaiseProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))

	t.Run("ok/raised-to-the-floor", func(t *testing.T) {
		unsetenv(t, "GOMAXPROCS")
		runtime.GOMAXPROCS(1)
		raiseProcs()
		if got := runtime.GOMAXPROCS(0); got != minProcs {
			t.Fatalf("GOMAXPROCS = %d, want %d", got, minProcs)
		}
	})
	t.Run("ok/operator-wins", func(t *testing.T) {
		t.Setenv("GOMAXPROCS", "1")
		runtime.GOMAXPROCS(1)
		raiseProcs()
		if got := runtime.GOMAXPROCS(0); got != 1 {
			t.Fatalf("GOMAXPROCS = %d, want the operator's 1", got)
		}
	})
	t.Run("ok/more-cpus-kept", func(t *testing.T) {
		unsetenv(t, "GOMAXPROCS")
		runtime.GOMAXPROCS(minProcs + 2)
		raiseProcs()
		if got := runtime.GOMAXPROCS(0); got != minProcs+2 {
			t.Fatalf("GOMAXPROCS = %d, want %d kept", got, minProcs+2)
		}
	})
}

// unsetenv removes name for the test and restores it after.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	old, had := os.LookupEnv(name)
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if had {
			os.Setenv(name, old)
		} else {
			os.Unsetenv(name)
		}
	})
}
