package subnet

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// privateRanges is what the Caddyfile keyword private_ranges expands to:
// loopback, the RFC 1918 IPv4 networks and the locally assigned half of
// IPv6 unique local addresses (RFC 4193). Link-local and carrier-grade NAT
// space are left out: an operator who means them writes them.
var privateRanges = []string{
	"10.0.0.0/8",
	"172.16.0.0/12",
	"192.168.0.0/16",
	"127.0.0.0/8",
	"::1/128",
	"fd00::/8",
}

// nonPublic is the address space a warning does not flag: private,
// loopback, link-local, shared (CGNAT) and unique local addresses.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// mappedSpace is where IPv4-mapped IPv6 addresses live (::ffff:a.b.c.d).
var mappedSpace = netip.MustParsePrefix("::ffff:0.0.0.0/96")

// rangeSet is the parsed ranges, by address family. A client address is
// compared in its unmapped form, so IPv4-mapped ranges are stored as IPv4.
type rangeSet struct {
	v4, v6 []netip.Prefix
	// src is the entry each prefix came from, for messages.
	src map[netip.Prefix]string
}

// parseRanges parses every entry once. Entries are CIDR prefixes or single
// addresses; anything else, a zone, or a prefix with host bits set is an
// error that names the entry.
func parseRanges(entries []string) (*rangeSet, error) {
	rs := &rangeSet{src: make(map[netip.Prefix]string, len(entries))}
	for i, e := range entries {
		p, err := parseRange(e)
		if err != nil {
			return nil, fmt.Errorf("ranges[%d] %q: %w", i, e, err)
		}
		rs.add(p, e)
		// A shorter IPv6 prefix that contains every IPv4-mapped address
		// (::/0, ::/64, ::/80, ...) admits every IPv4 client too, since
		// ::ffff:a.b.c.d and a.b.c.d are the same client.
		if p.Addr().Is6() && p.Bits() < mappedSpace.Bits() && p.Contains(mappedSpace.Addr()) {
			rs.add(netip.PrefixFrom(netip.IPv4Unspecified(), 0), e)
		}
	}
	slices.SortFunc(rs.v4, comparePrefix)
	rs.v4 = slices.Compact(rs.v4)
	slices.SortFunc(rs.v6, comparePrefix)
	rs.v6 = slices.Compact(rs.v6)
	return rs, nil
}

func (rs *rangeSet) add(p netip.Prefix, src string) {
	if _, seen := rs.src[p]; !seen {
		rs.src[p] = src
	}
	if p.Addr().Is4() {
		rs.v4 = append(rs.v4, p)
	} else {
		rs.v6 = append(rs.v6, p)
	}
}

// parseRange parses one entry and normalises an IPv4-mapped prefix
// (::ffff:10.0.0.0/104) to its IPv4 form (10.0.0.0/8).
func parseRange(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("empty range")
	}
	if strings.ContainsRune(s, '%') {
		// A client's zone is dropped before matching (it names the
		// receiving interface, not the client), so a zoned range would
		// promise a restriction that is not enforced.
		return netip.Prefix{}, fmt.Errorf("zones are not supported in ranges")
	}
	var p netip.Prefix
	if strings.ContainsRune(s, '/') {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("not a CIDR prefix: %w", err)
		}
		if m := p.Masked(); m != p {
			// 10.1.2.3/8 reads as both "10.0.0.0/8" and "10.1.2.3"; the
			// broader reading would silently admit a whole network.
			return netip.Prefix{}, fmt.Errorf("host bits set: write %s for the network or %s for the single address",
				m, netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR prefix: %w", err)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() && p.Bits() >= mappedSpace.Bits() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-mappedSpace.Bits())
	}
	return p, nil
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// contains reports whether a (unmapped, without zone) is in the set.
func (rs *rangeSet) contains(a netip.Addr) bool {
	list := rs.v6
	if a.Is4() {
		list = rs.v4
	}
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// covers reports whether sorted prefixes of one family leave no address of
// that family out, however they are split (0.0.0.0/1 + 128.0.0.0/1 admits
// as much as 0.0.0.0/0).
func covers(sorted []netip.Prefix, family netip.Addr) bool {
	next := family // the lowest address not yet covered
	for _, p := range sorted {
		if p.Addr().Compare(next) > 0 {
			return false // a gap before p
		}
		last := lastAddr(p)
		if last.Compare(next) >= 0 {
			next = last.Next()
			if !next.IsValid() {
				return true // covered up to the family's last address
			}
		}
	}
	return false
}

// lastAddr is the highest address in the masked prefix p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// open names the families whose every address the set admits, with the
// entries responsible, e.g. "every IPv4 address (0.0.0.0/1 128.0.0.0/1)".
func (rs *rangeSet) open() []string {
	var out []string
	if covers(rs.v4, netip.IPv4Unspecified()) {
		out = append(out, "every IPv4 address ("+rs.sources(rs.v4)+")")
	}
	if covers(rs.v6, netip.IPv6Unspecified()) {
		out = append(out, "every IPv6 address ("+rs.sources(rs.v6)+")")
	}
	return out
}

// sources names the entries behind ps: the ones that admit the whole
// family by themselves if there are any, else all of them.
func (rs *rangeSet) sources(ps []netip.Prefix) string {
	if whole := slices.DeleteFunc(slices.Clone(ps), func(p netip.Prefix) bool { return p.Bits() != 0 }); len(whole) > 0 {
		ps = whole
	}
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		if s := rs.src[p]; !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	return strings.Join(names, " ")
}

// public returns the entries that admit addresses outside private,
// loopback, link-local and unique local space.
func (rs *rangeSet) public() []string {
	var out []string
	for _, p := range append(slices.Clone(rs.v4), rs.v6...) {
		inner := slices.ContainsFunc(nonPublic, func(np netip.Prefix) bool {
			return np.Addr().BitLen() == p.Addr().BitLen() && np.Bits() <= p.Bits() && np.Contains(p.Addr())
		})
		if s := rs.src[p]; !inner && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
