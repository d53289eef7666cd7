package audit

import (
	"os"
	"syscall"
)

// datasync flushes f's data and what is needed to read it back
// (fdatasync): the size when it grew, not times.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
