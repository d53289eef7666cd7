package nodeauth

import (
	"crypto/x509"
	"testing"

	"github.com/crgate/crgate/internal/certfp"
)

// A registered certificate seen once is identified from its remembered
// fingerprint afterwards, the same as the first time; unregistered
// certificates, however many, are never remembered.
func TestKnownDER(t *testing.T) {
	ca := newTestCA(t, "registry CA")
	active := ca.issueValid(t, "active")
	dir := t.TempDir()
	reg := provisioned(t, writeFile(t, dir, "clients.json", clientsFor(entryFor("active", "active", active))))
	chain := [][]*x509.Certificate{{active, ca.cert}}
	for i := range 3 {
		_, pub, ref := reg.identify([]*x509.Certificate{active}, chain)
		if ref != nil || pub.node.ID != "active" || pub.node.Fingerprint != certfp.Of(active.Raw) {
			t.Fatalf("identify #%d: %v, %v; want node active with its fingerprint", i+1, pub, ref)
		}
	}
	st := reg.state.Load()
	if n := st.known.size(); n != 1 {
		t.Fatalf("remembered %d certificates, want the one registered", n)
	}
	for i := range 5 {
		stranger := ca.issueValid(t, "stranger")
		if _, _, ref := reg.identify([]*x509.Certificate{stranger}, [][]*x509.Certificate{{stranger, ca.cert}}); ref == nil || ref.Reason != reasonUnregistered {
			t.Fatalf("stranger #%d: %v, want refused as unregistered", i+1, ref)
		}
	}
	if n := st.known.size(); n != 1 {
		t.Fatalf("remembered %d certificates after unregistered ones, want 1", n)
	}
}
