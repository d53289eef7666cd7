package subnet

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // the prefix, or the error substring after "err:"
	}{
		{"ok/ipv4-cidr", "10.0.0.0/8", "10.0.0.0/8"},
		{"ok/ipv6-cidr", "fd00::/8", "fd00::/8"},
		{"ok/single-ipv4", "192.0.2.7", "192.0.2.7/32"},
		{"ok/single-ipv6", "::1", "::1/128"},
		{"ok/ipv4-slash-32", "127.0.0.1/32", "127.0.0.1/32"},
		{"ok/mapped-prefix-is-ipv4", "::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"ok/mapped-single-is-ipv4", "::ffff:127.0.0.1", "127.0.0.1/32"},
		{"ok/mapped-space-is-every-ipv4", "::ffff:0.0.0.0/96", "0.0.0.0/0"},
		{"ok/ipv6-uppercase", "FD00::/8", "fd00::/8"},
		{"fail/empty", "", "err:empty range"},
		{"fail/garbage", "admin-net", "err:not an IP address"},
		{"fail/hostname", "localhost", "err:not an IP address"},
		{"fail/zone", "fe80::/10%eth0", "err:zones are not supported"},
		{"fail/zone-single", "fe80::1%lo", "err:zones are not supported"},
		{"fail/host-bits", "10.1.2.3/8", "err:host bits set: write 10.0.0.0/8 for the network or 10.1.2.3/32"},
		{"fail/ipv6-host-bits", "fd00::1/8", "err:host bits set"},
		{"fail/bits-too-long", "10.0.0.0/33", "err:not a CIDR prefix"},
		{"fail/negative-bits", "10.0.0.0/-1", "err:not a CIDR prefix"},
		{"fail/with-port", "127.0.0.1:443", "err:not an IP address"},
		{"fail/leading-space", " 10.0.0.0/8", "err:not a CIDR prefix"},
		{"fail/octal-looking", "010.0.0.0/8", "err:not a CIDR prefix"},
		{"fail/short-ipv4", "10/8", "err:not a CIDR prefix"},
		{"fail/range-syntax", "10.0.0.1-10.0.0.9", "err:not an IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseRange(tt.in)
			if want, isErr := strings.CutPrefix(tt.want, "err:"); isErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("parseRange(%q) = %v, %v; want error containing %q", tt.in, p, err, want)
				}
				return
			}
			if err != nil || p.String() != tt.want {
				t.Fatalf("parseRange(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
			}
		})
	}
}

func TestOpenRanges(t *testing.T) {
	tests := []struct {
		name   string
		ranges []string
		want   []string // substrings of open(), in order; none if not open
	}{
		{"ok/private", privateRanges, nil},
		{"ok/half-of-ipv4", []string{"0.0.0.0/1"}, nil},
		{"ok/all-but-one-ipv4", []string{"0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/4", "240.0.0.0/5", "248.0.0.0/6", "252.0.0.0/7", "254.0.0.0/8", "255.0.0.0/9"}, nil},
		{"ok/gap-at-start", []string{"0.0.0.1/32", "0.0.0.2/31", "0.0.0.4/30", "0.0.0.8/29", "0.0.0.16/28", "0.0.0.32/27", "0.0.0.64/26", "0.0.0.128/25", "0.0.1.0/24", "0.0.2.0/23", "0.0.4.0/22", "0.0.8.0/21", "0.0.16.0/20", "0.0.32.0/19", "0.0.64.0/18", "0.0.128.0/17", "0.1.0.0/16", "0.2.0.0/15", "0.4.0.0/14", "0.8.0.0/13", "0.16.0.0/12", "0.32.0.0/11", "0.64.0.0/10", "0.128.0.0/9", "1.0.0.0/8", "2.0.0.0/7", "4.0.0.0/6", "8.0.0.0/5", "16.0.0.0/4", "32.0.0.0/3", "64.0.0.0/2", "128.0.0.0/1"}, nil},
		{"ok/ipv6-without-mapped-space", []string{"2000::/3", "fc00::/7"}, nil},
		{"fail/ipv4-any", []string{"0.0.0.0/0"}, []string{"every IPv4 address (0.0.0.0/0)"}},
		{"fail/ipv6-any", []string{"::/0"}, []string{"every IPv4 address (::/0)", "every IPv6 address (::/0)"}},
		{"fail/ipv4-halves", []string{"128.0.0.0/1", "10.0.0.0/8", "0.0.0.0/1"}, []string{"every IPv4 address (0.0.0.0/1 10.0.0.0/8 128.0.0.0/1)"}},
		{"fail/overlapping-pieces", []string{"0.0.0.0/2", "0.0.0.0/1", "64.0.0.0/2", "192.0.0.0/2", "128.0.0.0/2"}, []string{"every IPv4 address"}},
		{"fail/ipv4-single-hole-filled", []string{"0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/4", "240.0.0.0/5", "248.0.0.0/6", "252.0.0.0/7", "254.0.0.0/8", "255.0.0.0/9", "255.128.0.0/9"}, []string{"every IPv4 address"}},
		{"fail/ipv6-halves", []string{"::/1", "8000::/1"}, []string{"every IPv4 address (::/1)", "every IPv6 address (::/1 8000::/1)"}},
		{"fail/mapped-space", []string{"::ffff:0.0.0.0/96"}, []string{"every IPv4 address (::ffff:0.0.0.0/96)"}},
		{"fail/ipv6-net-containing-mapped-space", []string{"::/64"}, []string{"every IPv4 address (::/64)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := parseRanges(tt.ranges)
			if err != nil {
				t.Fatal(err)
			}
			got := rs.open()
			if len(got) != len(tt.want) {
				t.Fatalf("open() = %q, want %d entries like %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("open()[%d] = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestParseRangesNamesTheEntry(t *testing.T) {
	_, err := parseRanges([]string{"10.0.0.0/8", "10.1.2.3/16"})
	if err == nil || !strings.Contains(err.Error(), `ranges[1] "10.1.2.3/16": host bits set`) {
		t.Fatalf("err = %v", err)
	}
}

func TestPublicRanges(t *testing.T) {
	rs, err := parseRanges([]string{"10.0.0.0/8", "8.8.8.0/24", "::1", "2001:db8::/32", "0.0.0.0/1", "fe80::/10", "169.254.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rs.public(), " ")
	if got != "0.0.0.0/1 8.8.8.0/24 2001:db8::/32" {
		t.Fatalf("public() = %q", got)
	}
}

func TestContains(t *testing.T) {
	rs, err := parseRanges([]string{"10.0.0.0/8", "192.168.1.0/24", "fd00::/8", "::ffff:172.16.0.0/108"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, addr string
		want       bool
	}{
		{"ok/ipv4-inside", "10.200.3.4", true},
		{"ok/ipv4-edge-low", "192.168.1.0", true},
		{"ok/ipv4-edge-high", "192.168.1.255", true},
		{"ok/ipv6-ula", "fd12:3456::1", true},
		{"ok/mapped-range-admits-ipv4", "172.16.9.9", true},
		{"fail/ipv4-just-outside", "192.168.2.0", false},
		{"fail/ipv4-below", "9.255.255.255", false},
		{"fail/ipv6-outside", "fe80::1", false},
		{"fail/ipv6-ula-fc", "fc00::1", false},
		{"fail/loopback-not-listed", "127.0.0.1", false},
		{"fail/nat64-embedding-listed-ipv4", "64:ff9b::a00:1", false},
		{"fail/ipv4-compatible-ipv6", "::a00:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rs.contains(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Fatalf("contains(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}
