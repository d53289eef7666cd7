//go:build !unix

package filelock

import "os"

// TryLock is a no-op where flock(2) is not available.
func TryLock(*os.File) error { return nil }

// Unlock is a no-op where flock(2) is not available.
func Unlock(*os.File) {}

// Held reports false where flock(2) is not available.
func Held(string) (bool, error) { return false, nil }
