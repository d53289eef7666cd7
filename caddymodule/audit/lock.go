package audit

import (
	"errors"
	"fmt"
	"os"

	"github.com/crgate/crgate/internal/filelock"
)

// lockDir takes an exclusive lock on path, so that two processes never
// write the same spool.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit spool lock: %w", err)
	}
	if err := filelock.TryLock(f); err != nil {
		f.Close()
		if errors.Is(err, filelock.ErrLocked) {
			return nil, fmt.Errorf("audit spool %s is in use by another process: %w", path, filelock.ErrLocked)
		}
		return nil, fmt.Errorf("audit spool lock: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) {
	if f != nil {
		filelock.Unlock(f)
		_ = f.Close()
	}
}
