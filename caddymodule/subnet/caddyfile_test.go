package subnet

import (
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/crgate/crgate/internal/adapttest"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, input string
		ranges      []string
		allowAny    bool
		err         string
	}{
		{"ok/args", `subnet_guard 10.0.0.0/8 fd00::/8`, []string{"10.0.0.0/8", "fd00::/8"}, false, ""},
		{"ok/single-address", `subnet_guard 192.0.2.7`, []string{"192.0.2.7"}, false, ""},
		{"ok/block", "subnet_guard {\n ranges 10.0.0.0/8\n ranges 192.168.0.0/16 ::1\n}", []string{"10.0.0.0/8", "192.168.0.0/16", "::1"}, false, ""},
		{"ok/args-and-block", "subnet_guard 10.0.0.0/8 {\n ranges ::1/128\n}", []string{"10.0.0.0/8", "::1/128"}, false, ""},
		{"ok/private-ranges", `subnet_guard private_ranges 203.0.113.0/24`, append(slices.Clone(privateRanges), "203.0.113.0/24"), false, ""},
		{"ok/allow-any", "subnet_guard 0.0.0.0/0 {\n allow_any\n}", []string{"0.0.0.0/0"}, true, ""},
		{"fail/empty", `subnet_guard`, nil, false, "at least one range is required"},
		{"fail/empty-block", "subnet_guard {\n}", nil, false, "at least one range is required"},
		{"fail/only-allow-any", "subnet_guard {\n allow_any\n}", nil, false, "at least one range is required"},
		{"fail/ranges-without-args", "subnet_guard 10.0.0.0/8 {\n ranges\n}", nil, false, "wrong argument count"},
		{"fail/allow-any-arg", "subnet_guard 0.0.0.0/0 {\n allow_any yes\n}", nil, false, "wrong argument count"},
		{"fail/allow-any-twice", "subnet_guard 0.0.0.0/0 {\n allow_any\n allow_any\n}", nil, false, "allow_any: given twice"},
		{"fail/unknown", "subnet_guard 10.0.0.0/8 {\n allow 10.0.0.0/8\n}", nil, false, `unrecognized subdirective "allow"`},
		{"fail/garbage", `subnet_guard 10.0.0.0/8 office`, nil, false, `ranges[1] "office": not an IP address`},
		{"fail/host-bits", `subnet_guard 10.1.2.3/8`, nil, false, `ranges[0] "10.1.2.3/8": host bits set`},
		{"fail/zone", `subnet_guard fe80::/10%eth0`, nil, false, "zones are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g Guard
			err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(g.Ranges, tt.ranges) || g.AllowAny != tt.allowAny {
				t.Fatalf("got ranges %q allow_any %v, want %q %v", g.Ranges, g.AllowAny, tt.ranges, tt.allowAny)
			}
		})
	}
}

func TestCaddyfileAdapt(t *testing.T) {
	adapttest.Run(t, "testdata")
}
