//go:build !linux

package portclaim

// hold claims nothing where the abstract socket namespace is missing.
func hold(string) (func(), error) { return func() {}, nil }
