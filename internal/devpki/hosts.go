package devpki

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// defaultHosts are always in the server certificate: the gateway is reached
// as localhost in `make run` and the e2e suite, over IPv4 or IPv6.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// serverSANs splits defaultHosts plus extra into DNS names and IP addresses.
// An IP literal becomes an IP SAN, anything else must be a DNS name. Names
// are lower-cased and duplicates dropped, so `--host localhost` is harmless.
func serverSANs(extra []string) (dns []string, ips []net.IP, err error) {
	seen := make(map[string]bool)
	for _, h := range append(append([]string(nil), defaultHosts...), extra...) {
		if ip, perr := netip.ParseAddr(h); perr == nil {
			if ip.Zone() != "" {
				return nil, nil, fmt.Errorf("--host %q: an IP address in a certificate cannot have a zone", h)
			}
			if key := ip.String(); !seen[key] {
				seen[key] = true
				ips = append(ips, net.IP(ip.AsSlice()))
			}
			continue
		}
		name := strings.ToLower(h)
		if err := checkDNSName(name); err != nil {
			return nil, nil, fmt.Errorf("--host %q: %w", h, err)
		}
		if !seen[name] {
			seen[name] = true
			dns = append(dns, name)
		}
	}
	return dns, ips, nil
}

// checkDNSName accepts what Go's verifier matches against: labels of
// letters, digits, '-' and '_' (common in container service names), an
// optional leading "*." wildcard, no trailing dot. Anything else would end up
// in a certificate no client matches, so it is refused here.
func checkDNSName(name string) error {
	if name == "" {
		return fmt.Errorf("empty host name")
	}
	if len(name) > 253 {
		return fmt.Errorf("host name longer than 253 characters")
	}
	labels := strings.Split(strings.TrimPrefix(name, "*."), ".")
	for _, label := range labels {
		if label == "" {
			return fmt.Errorf("empty label (leading, trailing or double dot)")
		}
		if len(label) > 63 {
			return fmt.Errorf("label %q longer than 63 characters", label)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with '-'", label)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("invalid character %q (not an IP address, and not allowed in a DNS name)", c)
			}
		}
	}
	return nil
}
