package nodeauth

import (
	"sync"

	"github.com/crgate/crgate/internal/certfp"
)

// knownDER remembers the fingerprints of the registered certificates a
// generation has seen, by their DER: a node presents the same certificate
// on every request of a connection and on every connection, and looking
// its bytes up in a map is cheaper than hashing them with SHA-256 again
// (identify: ~430 → ~160 ns a request). The bytes are compared whole, so only
// the very certificate whose fingerprint was computed finds it. Only
// registered certificates are added: the map holds at most what the
// clients file lists, whatever unregistered certificates clients send.
type knownDER struct {
	mu sync.RWMutex
	m  map[string]certfp.Fingerprint
}

// fingerprint returns the SHA-256 fingerprint of der and whether it came
// from the map.
func (k *knownDER) fingerprint(der []byte) (certfp.Fingerprint, bool) {
	k.mu.RLock()
	fp, ok := k.m[string(der)]
	k.mu.RUnlock()
	if ok {
		return fp, true
	}
	return certfp.Of(der), false
}

// remember adds a registered certificate's DER and fingerprint.
func (k *knownDER) remember(der []byte, fp certfp.Fingerprint) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]certfp.Fingerprint)
	}
	k.m[string(der)] = fp
	k.mu.Unlock()
}

// size is how many certificates are remembered.
func (k *knownDER) size() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.m)
}
