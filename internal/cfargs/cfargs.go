// Package cfargs reads the one-value subdirectives of Caddyfile blocks
// (`timeout 10s`, `ca /path`, `max_body 1MiB`) the same way everywhere: exactly one
// argument, never given twice, errors that name the subdirective.
package cfargs

import (
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// String reads the current subdirective's single argument into dst.
func String(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	if *dst != "" {
		return d.Errf("%s: given twice", name)
	}
	if !d.NextArg() {
		return d.ArgErr()
	}
	if d.Val() == "" {
		return d.Errf("%s: empty value", name)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Int reads a positive integer argument into dst.
func Int(d *caddyfile.Dispenser, dst *int) error {
	name := d.Val()
	var s string
	if *dst != 0 {
		return d.Errf("%s: given twice", name)
	}
	if err := String(d, &s); err != nil {
		return err
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		return d.Errf("%s: want a positive integer, got %q", name, s)
	}
	*dst = v
	return nil
}

// Duration reads a positive caddy duration argument into dst.
func Duration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	var s string
	if *dst != 0 {
		return d.Errf("%s: given twice", name)
	}
	if err := String(d, &s); err != nil {
		return err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("%s: %v", name, err)
	}
	if v <= 0 {
		return d.Errf("%s: must be positive, got %s", name, time.Duration(v))
	}
	*dst = caddy.Duration(v)
	return nil
}

// Size reads a byte size argument (512MiB, 1GB, 4096; decimal and binary
// units, as go-humanize reads them) into dst. It must lie in 1..max.
func Size(d *caddyfile.Dispenser, dst *int64, max int64) error {
	name := d.Val()
	var s string
	if *dst != 0 {
		return d.Errf("%s: given twice", name)
	}
	if err := String(d, &s); err != nil {
		return err
	}
	v, err := humanize.ParseBytes(s)
	if err != nil {
		return d.Errf("%s: %q is not a size such as 512MiB (unknown size unit or malformed number)", name, s)
	}
	if v == 0 || v > uint64(max) {
		return d.Errf("%s: %s is outside 1B..%s", name, s, humanize.IBytes(uint64(max)))
	}
	*dst = int64(v)
	return nil
}

// Fields maps a block's one-value subdirectives to the config fields they
// set.
type Fields struct {
	Strings   map[string]*string
	Ints      map[string]*int
	Durations map[string]*caddy.Duration
}

// Parse reads the dispenser's current subdirective into its field; known
// is false for a subdirective f does not list.
func (f Fields) Parse(d *caddyfile.Dispenser) (known bool, err error) {
	name := d.Val()
	if dst, ok := f.Strings[name]; ok {
		return true, String(d, dst)
	}
	if dst, ok := f.Ints[name]; ok {
		return true, Int(d, dst)
	}
	if dst, ok := f.Durations[name]; ok {
		return true, Duration(d, dst)
	}
	return false, nil
}
