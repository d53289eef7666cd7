// Package filelock takes advisory whole-file locks (flock(2)), so that two
// gateways never write one audit spool or one audit file, and so that a
// reader can tell a file a running gateway is still writing.
package filelock

import "errors"

// ErrLocked is returned when another open file holds a conflicting lock.
var ErrLocked = errors.New("locked by another process")
