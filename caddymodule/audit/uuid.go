package audit

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// uuidSource hands out random (version 4) UUIDs from a buffer of
// crypto/rand bytes, refilled 256 at a time, so minting one on the
// request path costs no system call.
var uuidSource struct {
	mu  sync.Mutex
	buf [16 * 256]byte
	pos int
}

func init() { uuidSource.pos = len(uuidSource.buf) }

// newUUID returns a random UUID in its canonical text form.
func newUUID() string {
	var u [16]byte
	uuidSource.mu.Lock()
	if uuidSource.pos == len(uuidSource.buf) {
		// crypto/rand.Read never fails (Go 1.24+): it crashes the program
		// rather than return predictable bytes.
		_, _ = rand.Read(uuidSource.buf[:])
		uuidSource.pos = 0
	}
	copy(u[:], uuidSource.buf[uuidSource.pos:])
	clear(uuidSource.buf[uuidSource.pos : uuidSource.pos+16])
	uuidSource.pos += 16
	uuidSource.mu.Unlock()
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}
