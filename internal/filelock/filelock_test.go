//go:build unix

package filelock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestTryLockAndHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	a, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if held, err := Held(path); err != nil || held {
		t.Fatalf("Held before any lock = %v, %v; want false", held, err)
	}
	if err := TryLock(a); err != nil {
		t.Fatalf("TryLock: %v", err)
	}
	// A second open file (as a second process would have) cannot take it.
	b, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := TryLock(b); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock = %v, want ErrLocked", err)
	}
	if held, err := Held(path); err != nil || !held {
		t.Fatalf("Held while locked = %v, %v; want true", held, err)
	}
	// Held's probe must not leave a lock behind that keeps a writer out.
	Unlock(a)
	if err := TryLock(b); err != nil {
		t.Fatalf("TryLock after Unlock and a Held probe: %v", err)
	}
	Unlock(b)
	a.Close()
	if held, err := Held(path); err != nil || held {
		t.Fatalf("Held after unlock = %v, %v; want false", held, err)
	}
}
