//go:build !unix

package audit

import "os"

// lockDir is a no-op where flock is not available.
func lockDir(path string) (*os.File, error) { return nil, nil }

func unlockDir(*os.File) {}
