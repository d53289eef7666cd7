package audit

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/auditrec"
)

// testSinkModule is a sink module in another "package" as far as the app
// is concerned: it proves that `sink <name> …` hands its line and block
// to the module's own parser and that the app loads it by name.
type testSinkModule struct {
	Target string `json:"target,omitempty"`
	Flag   bool   `json:"flag,omitempty"`
}

var testSinkGot = struct {
	sync.Mutex
	events map[string][]auditsink.Event // by Target
}{events: map[string][]auditsink.Event{}}

func init() { caddy.RegisterModule(testSinkModule{}) }

func (testSinkModule) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "audit.sinks.testsink", New: func() caddy.Module { return new(testSinkModule) }}
}

func (m *testSinkModule) Deliver(ctx context.Context, evs []auditsink.Event) (int, error) {
	testSinkGot.Lock()
	defer testSinkGot.Unlock()
	for _, ev := range evs {
		// An event is valid only until Deliver returns: keep a copy.
		testSinkGot.events[m.Target] = append(testSinkGot.events[m.Target], ev.Clone())
	}
	return len(evs), nil
}

func (m *testSinkModule) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if !d.NextArg() {
		return d.ArgErr()
	}
	m.Target = d.Val()
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "flag" {
			return d.Errf("unrecognized subdirective %q", d.Val())
		}
		m.Flag = true
	}
	return nil
}

func testSinkEvents(target string) []auditsink.Event {
	testSinkGot.Lock()
	defer testSinkGot.Unlock()
	return append([]auditsink.Event(nil), testSinkGot.events[target]...)
}

func TestSinkDispatchToOtherModules(t *testing.T) {
	d := caddyfile.NewTestDispenser(`audit {
		sink testsink alpha {
			flag
		}
		sink testsink beta
	}`)
	var a App
	if err := a.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(a.SinksRaw)
	want := `[{"flag":true,"sink":"testsink","target":"alpha"},{"sink":"testsink","target":"beta"}]`
	if string(got) != want {
		t.Fatalf("sinks %s, want %s", got, want)
	}
	d = caddyfile.NewTestDispenser(`audit {
		sink testsink alpha {
			bogus
		}
	}`)
	if err := new(App).UnmarshalCaddyfile(d); err == nil || !strings.Contains(err.Error(), `unrecognized subdirective "bogus"`) {
		t.Fatalf("the sink's own parser did not reject its bad option: %v", err)
	}
}

// TestAppLifecycle runs the app in a real Caddy instance: sinks loaded by
// module name, the application start, a record through the Recorder
// interface, and the application stop, delivered in that order.
func TestAppLifecycle(t *testing.T) {
	target := "lifecycle-" + newUUID()
	cfg := map[string]any{
		"admin": map[string]any{"disabled": true},
		"apps": map[string]any{"audit": map[string]any{
			"spool_dir": t.TempDir(), "observer_id": "gw-test",
			"sinks": []any{map[string]any{"sink": "testsink", "target": target}},
		}},
	}
	raw, _ := json.Marshal(cfg)
	if err := caddy.Load(raw, true); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = caddy.Stop()
		}
	}()
	waitDelivered(t, "the application start", func() bool { return len(testSinkEvents(target)) >= 1 })
	app, err := caddy.ActiveContext().App(auditrec.AppName)
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := app.(auditrec.Recorder)
	if !ok {
		t.Fatalf("the audit app is %T, not a Recorder", app)
	}
	if err := rec.Record(&auditrec.Record{Kind: auditrec.KindUserLogin, Time: time.Now(), UserID: "ops@example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	evs := testSinkEvents(target)
	if len(evs) != 3 {
		t.Fatalf("%d events delivered, want start, login, stop", len(evs))
	}
	for i, want := range []auditrec.Kind{auditrec.KindApplicationStart, auditrec.KindUserLogin, auditrec.KindApplicationStop} {
		if evs[i].Record.Kind != want || len(evs[i].JSON) == 0 || evs[i].ID == "" {
			t.Errorf("event %d: kind %d id %q, want kind %d", i, evs[i].Record.Kind, evs[i].ID, want)
		}
		if i > 0 && evs[i].Seq <= evs[i-1].Seq {
			t.Errorf("event %d: seq %d after %d", i, evs[i].Seq, evs[i-1].Seq)
		}
	}
}

func TestAppConfigErrors(t *testing.T) {
	sink := []any{map[string]any{"sink": "testsink", "target": "x"}}
	for _, tc := range []struct {
		name string
		app  map[string]any
		want string
	}{
		{"fail/durability", map[string]any{"durability": "maybe", "sinks": sink}, "durability"},
		{"fail/when-full", map[string]any{"when_full": "drop", "sinks": sink}, "when_full"},
		{"fail/no-sink", map[string]any{}, "at least one sink"},
		{"fail/small-spool", map[string]any{"spool_max_size": 1000, "sinks": sink}, "spool_max_size"},
		{"fail/segment-over-max", map[string]any{"spool_max_size": 1 << 20, "segment_size": 2 << 20, "sinks": sink}, "segment_size"},
		{"fail/unknown-sink", map[string]any{"sinks": []any{map[string]any{"sink": "nope"}}}, "audit.sinks.nope"},
		{"fail/retry", map[string]any{"retry_min": 5e9, "retry_max": 1e9, "sinks": sink}, "retry_min"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.app["spool_dir"] = t.TempDir()
			tc.app["observer_id"] = "gw-test"
			raw, _ := json.Marshal(map[string]any{"admin": map[string]any{"disabled": true}, "apps": map[string]any{"audit": tc.app}})
			var cfg caddy.Config
			if err := json.Unmarshal(raw, &cfg); err != nil {
				t.Fatal(err)
			}
			err := caddy.Validate(&cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to name %q", err, tc.want)
			}
		})
	}
}
