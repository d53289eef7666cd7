package auditrec

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
)

// AppName is the name of crgate's audit app in Caddy's config.
const AppName = "audit"

// FromContext returns the config's audit app as a Recorder, or ok false
// when no audit app is configured.
func FromContext(ctx caddy.Context) (r Recorder, ok bool, err error) {
	app, err := ctx.AppIfConfigured(AppName)
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("loading %s app: %w", AppName, err)
	}
	rec, isRec := app.(Recorder)
	if !isRec {
		return nil, false, fmt.Errorf("%s app is %T, not an audit recorder", AppName, app)
	}
	return rec, true, nil
}
