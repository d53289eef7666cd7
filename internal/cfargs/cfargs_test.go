package cfargs

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestSize(t *testing.T) {
	cases := []struct {
		name, input string
		want        int64
		err         string
	}{
		{"ok/plain-bytes", "max 4096", 4096, ""},
		{"ok/binary-unit", "max 1MiB", 1 << 20, ""},
		{"ok/decimal-unit", "max 2MB", 2_000_000, ""},
		{"fail/unknown-unit", "max 12XB", 0, "unknown size unit"},
		{"fail/zero", "max 0", 0, "outside 1B..1.0 GiB"},
		{"fail/over-max", "max 2GiB", 0, "outside 1B..1.0 GiB"},
		{"fail/no-argument", "max", 0, "wrong argument count"},
		{"fail/two-arguments", "max 1 2", 0, "wrong argument count"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tc.input)
			d.Next()
			var got int64
			err := Size(d, &got, 1<<30)
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("Size(%q) = %d, %v; want %d", tc.input, got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Size(%q) error = %v, want it to contain %q", tc.input, err, tc.err)
			}
		})
	}
	t.Run("fail/given-twice", func(t *testing.T) {
		d := caddyfile.NewTestDispenser("max 1KiB")
		d.Next()
		got := int64(5)
		if err := Size(d, &got, 1<<30); err == nil || !strings.Contains(err.Error(), "given twice") {
			t.Fatalf("error = %v, want given twice", err)
		}
	})
}
