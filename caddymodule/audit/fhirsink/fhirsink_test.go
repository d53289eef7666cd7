package fhirsink

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/deadletter"
	"github.com/crgate/crgate/internal/testpeer"
)

// provisioned returns s provisioned and validated, with its dead letters
// in a temporary file and its logs observed.
func provisioned(t *testing.T, s *Sink) (*Sink, *observer.ObservedLogs) {
	t.Helper()
	if s.DeadLetterFile == "" {
		s.DeadLetterFile = filepath.Join(t.TempDir(), "dead.jsonl")
	}
	testpeer.Provision(t, s)
	core, logs := observer.New(zap.DebugLevel)
	s.logger = zap.New(core)
	return s, logs
}

func events(t *testing.T, n int) []auditsink.Event {
	evs := make([]auditsink.Event, n)
	for i := range evs {
		evs[i] = testpeer.AuditEvent(t, uint64(i+1), "p"+string(rune('0'+i%10)), 0)
	}
	return evs
}

// fakeServer answers each Bundle with answer(entries sent); it records the
// Bundles. For the edge cases a real server does not produce on demand;
// the real server is in medplum_test.go.
type fakeServer struct {
	mu      sync.Mutex
	bundles []sentBundle
	answer  func(w http.ResponseWriter, b sentBundle)
}

type sentBundle struct {
	Header http.Header
	Raw    []byte
	Type   string `json:"type"`
	Entry  []struct {
		Resource json.RawMessage `json:"resource"`
		Request  struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"request"`
	} `json:"entry"`
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var b sentBundle
	if err := json.Unmarshal(raw, &b); err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	b.Header, b.Raw = r.Header.Clone(), raw
	f.mu.Lock()
	f.bundles = append(f.bundles, b)
	f.mu.Unlock()
	f.answer(w, b)
}

func batchResponse(w http.ResponseWriter, statuses ...string) {
	var entries []map[string]any
	for _, st := range statuses {
		e := map[string]any{"response": map[string]any{"status": st}}
		if !strings.HasPrefix(st, "2") {
			e["response"].(map[string]any)["outcome"] = map[string]any{
				"resourceType": "OperationOutcome",
				"issue":        []any{map[string]any{"severity": "error", "code": "invalid", "diagnostics": "why " + st}},
			}
		}
		entries = append(entries, e)
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	_ = json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "batch-response", "entry": entries})
}

func allOK(w http.ResponseWriter, b sentBundle) {
	st := make([]string, len(b.Entry))
	for i := range st {
		st[i] = "201 Created"
	}
	batchResponse(w, st...)
}

func TestBundleShape(t *testing.T) {
	fs := &fakeServer{answer: allOK}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	s, _ := provisioned(t, &Sink{URL: srv.URL + "/fhir/", BatchSize: 3})
	evs := events(t, 7)
	n, err := s.Deliver(context.Background(), evs)
	if n != 7 || err != nil {
		t.Fatalf("Deliver = %d, %v; want 7, nil", n, err)
	}
	if len(fs.bundles) != 3 {
		t.Fatalf("%d Bundles for 7 events at batch_size 3, want 3", len(fs.bundles))
	}
	i := 0
	for _, b := range fs.bundles {
		if b.Type != "batch" {
			t.Fatalf("Bundle type %q", b.Type)
		}
		if ct := b.Header.Get("Content-Type"); ct != "application/fhir+json" {
			t.Fatalf("Content-Type %q", ct)
		}
		for _, e := range b.Entry {
			if e.Request.Method != "PUT" || e.Request.URL != "AuditEvent/"+evs[i].ID {
				t.Fatalf("entry %d request = %+v", i, e.Request)
			}
			// The resource is the event's JSON byte for byte.
			if string(e.Resource) != string(evs[i].JSON) {
				t.Fatalf("entry %d resource differs from the event", i)
			}
			i++
		}
	}
	if i != 7 {
		t.Fatalf("%d entries sent, want 7", i)
	}
}

func TestPostMethod(t *testing.T) {
	fs := &fakeServer{answer: func(w http.ResponseWriter, b sentBundle) {
		batchResponse(w, "201 Created", "409 Conflict", "201 Created")
	}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	s, _ := provisioned(t, &Sink{URL: srv.URL, Method: MethodPost})
	evs := events(t, 3)
	// A 409 on a create means the event's id is taken: stored before.
	if n, err := s.Deliver(context.Background(), evs); n != 3 || err != nil {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	for i, e := range fs.bundles[0].Entry {
		if e.Request.Method != "POST" || e.Request.URL != "AuditEvent" || string(e.Resource) != string(evs[i].JSON) {
			t.Fatalf("entry %d = %s %s", i, e.Request.Method, e.Request.URL)
		}
	}
}

func TestBundleByteLimit(t *testing.T) {
	fs := &fakeServer{answer: allOK}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	s, _ := provisioned(t, &Sink{URL: srv.URL, MaxBundleBytes: minMaxBundleBytes})
	var evs []auditsink.Event
	for i := range 6 {
		evs = append(evs, testpeer.AuditEvent(t, uint64(i+1), "p", 20<<10)) // ~28 KiB each after base64
	}
	n, err := s.Deliver(context.Background(), evs)
	if n != 6 || err != nil {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	total := 0
	for _, b := range fs.bundles {
		if len(b.Raw) > minMaxBundleBytes {
			t.Fatalf("a Bundle of %d bytes exceeds max_bundle_bytes %d", len(b.Raw), minMaxBundleBytes)
		}
		total += len(b.Entry)
	}
	if total != 6 || len(fs.bundles) < 3 {
		t.Fatalf("%d entries in %d Bundles; want 6 in ≥3", total, len(fs.bundles))
	}
}

func TestPerEntryAnswers(t *testing.T) {
	tests := []struct {
		name     string
		statuses []string
		wantN    int
		wantErr  bool
		wantDead int
	}{
		{"ok/all-stored", []string{"201 Created", "200 OK", "200"}, 3, false, 0},
		{"ok/invalid-event-dead-lettered", []string{"201 Created", "400 Bad Request", "201 Created"}, 3, false, 1},
		{"ok/unprocessable-dead-lettered", []string{"422 Unprocessable Entity", "201", "422"}, 3, false, 2},
		{"fail/throttled-entry-stops-there", []string{"201 Created", "429 Too Many Requests", "201 Created"}, 1, true, 0},
		{"fail/server-error-entry-stops-there", []string{"500 Internal Server Error", "201 Created", "201 Created"}, 0, true, 0},
		{"fail/forbidden-entry-is-not-the-events-fault", []string{"201", "201", "403 Forbidden"}, 2, true, 0},
		{"fail/conflict-retried", []string{"409 Conflict", "201", "201"}, 0, true, 0},
		{"fail/garbled-status", []string{"201", "OK", "201"}, 1, true, 0},
		{"fail/dead-letter-then-throttle", []string{"400", "503", "201"}, 1, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := &fakeServer{answer: func(w http.ResponseWriter, b sentBundle) { batchResponse(w, tc.statuses...) }}
			srv := httptest.NewServer(fs)
			defer srv.Close()
			s, logs := provisioned(t, &Sink{URL: srv.URL})
			evs := events(t, 3)
			n, err := s.Deliver(context.Background(), evs)
			if n != tc.wantN || (err != nil) != tc.wantErr {
				t.Fatalf("Deliver = %d, %v; want %d, error %v", n, err, tc.wantN, tc.wantErr)
			}
			var dead []deadletter.Entry
			if _, statErr := os.Stat(s.DeadLetterFile); statErr == nil {
				dead = testpeer.DeadLetters(t, s.DeadLetterFile)
			}
			if len(dead) != tc.wantDead {
				t.Fatalf("%d dead letters, want %d", len(dead), tc.wantDead)
			}
			for _, d := range dead {
				var ev auditsink.Event
				for _, e := range evs {
					if e.ID == d.ID {
						ev = e
					}
				}
				if ev.ID == "" || d.Seq != ev.Seq || string(d.Event) != string(ev.JSON) || !strings.Contains(d.Reason, "why") {
					t.Fatalf("dead letter %+v does not carry the refused event and reason", d)
				}
			}
			if got := logs.FilterMessageSnippet("dead-letter").Len(); got != tc.wantDead {
				t.Fatalf("%d dead-letter error logs, want %d", got, tc.wantDead)
			}
		})
	}
}

func TestWholeRequestFailuresRetry(t *testing.T) {
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter, b sentBundle)
	}{
		{"fail/503", func(w http.ResponseWriter, _ sentBundle) { http.Error(w, "down", 503) }},
		{"fail/429", func(w http.ResponseWriter, _ sentBundle) { http.Error(w, "slow down", 429) }},
		{"fail/401", func(w http.ResponseWriter, _ sentBundle) { http.Error(w, "who", 401) }},
		{"fail/400-whole-bundle", func(w http.ResponseWriter, _ sentBundle) { http.Error(w, "bad", 400) }},
		{"fail/200-html", func(w http.ResponseWriter, _ sentBundle) { _, _ = io.WriteString(w, "<html>proxy</html>") }},
		{"fail/200-not-batch-response", func(w http.ResponseWriter, _ sentBundle) {
			_, _ = io.WriteString(w, `{"resourceType":"Bundle","type":"searchset","entry":[]}`)
		}},
		{"fail/200-wrong-entry-count", func(w http.ResponseWriter, _ sentBundle) { batchResponse(w, "201") }},
		{"fail/302-not-followed", func(w http.ResponseWriter, _ sentBundle) {
			w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
			w.WriteHeader(302)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := &fakeServer{answer: tc.answer}
			srv := httptest.NewServer(fs)
			defer srv.Close()
			s, _ := provisioned(t, &Sink{URL: srv.URL})
			n, err := s.Deliver(context.Background(), events(t, 3))
			if n != 0 || err == nil {
				t.Fatalf("Deliver = %d, %v; want 0 and an error", n, err)
			}
			if _, statErr := os.Stat(s.DeadLetterFile); statErr == nil && len(testpeer.DeadLetters(t, s.DeadLetterFile)) > 0 {
				t.Fatal("a whole-request failure dead-lettered events")
			}
			if len(fs.bundles) != 1 {
				t.Fatalf("%d requests, want 1 (no redirect followed)", len(fs.bundles))
			}
		})
	}
}

func TestTooLargeShrinksThenDeadLetters(t *testing.T) {
	// The server takes at most 2 entries per Bundle.
	fs := &fakeServer{answer: func(w http.ResponseWriter, b sentBundle) {
		if len(b.Entry) > 2 || strings.Contains(string(b.Raw), "HUGE") {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		allOK(w, b)
	}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	s, _ := provisioned(t, &Sink{URL: srv.URL, BatchSize: 8})
	evs := events(t, 8)
	n, err := s.Deliver(context.Background(), evs)
	if n != 0 || err == nil {
		t.Fatalf("first Deliver = %d, %v; want 0 and an error after a 413", n, err)
	}
	// Retried (as the app does): 8 → 4 → 2 per Bundle.
	for try := 0; n < len(evs) && try < 5; try++ {
		var k int
		k, err = s.Deliver(context.Background(), evs[n:])
		n += k
	}
	if n != 8 || err != nil {
		t.Fatalf("after retries %d delivered, %v", n, err)
	}
	// One event the server refuses even alone is dead-lettered.
	huge := testpeer.AuditEvent(t, 9, "HUGE", 10)
	n, err = s.Deliver(context.Background(), []auditsink.Event{huge})
	for try := 0; err != nil && try < 3; try++ {
		n, err = s.Deliver(context.Background(), []auditsink.Event{huge})
	}
	if n != 1 || err != nil {
		t.Fatalf("Deliver(huge) = %d, %v; want it dead-lettered", n, err)
	}
	if d := testpeer.DeadLetters(t, s.DeadLetterFile); len(d) != 1 || d[0].ID != huge.ID {
		t.Fatalf("dead letters %+v", d)
	}
}

func TestUnsendableEventsDeadLetteredInOrder(t *testing.T) {
	fs := &fakeServer{answer: allOK}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	s, _ := provisioned(t, &Sink{URL: srv.URL, MaxBundleBytes: minMaxBundleBytes})
	evs := events(t, 6)
	evs[5].ID = ".."                                      // a path segment, not an id
	evs[1].JSON = []byte(`{"resourceType":"AuditEvent",`) // truncated
	evs[2].ID = "../Patient/1"                            // would change the entry's URL
	evs[3] = testpeer.AuditEvent(t, 4, "p", 2*minMaxBundleBytes)
	n, err := s.Deliver(context.Background(), evs)
	if n != 6 || err != nil {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	var sent []string
	for _, b := range fs.bundles {
		for _, e := range b.Entry {
			sent = append(sent, strings.TrimPrefix(e.Request.URL, "AuditEvent/"))
		}
	}
	if len(sent) != 2 || sent[0] != evs[0].ID || sent[1] != evs[4].ID {
		t.Fatalf("sent %v, want only events 0 and 4", sent)
	}
	dead := testpeer.DeadLetters(t, s.DeadLetterFile)
	if len(dead) != 4 || dead[0].Seq != 2 || dead[1].Seq != 3 || dead[2].Seq != 4 || dead[3].Seq != 6 {
		t.Fatalf("dead letters %+v, want seq 2, 3, 4, 6", dead)
	}
	// The truncated event is kept as a JSON string, the line stays valid.
	var s1 string
	if err := json.Unmarshal(dead[0].Event, &s1); err != nil || s1 != string(evs[1].JSON) {
		t.Fatalf("dead letter of invalid JSON = %s", dead[0].Event)
	}
}

func TestDeadLetterFailureDoesNotAdvance(t *testing.T) {
	fs := &fakeServer{answer: func(w http.ResponseWriter, _ sentBundle) { batchResponse(w, "201", "400", "201") }}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	s, _ := provisioned(t, &Sink{URL: srv.URL})
	// The dead-letter file becomes unwritable after provisioning.
	if err := os.Remove(s.DeadLetterFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.DeadLetterFile, 0o700); err != nil {
		t.Fatal(err)
	}
	n, err := s.Deliver(context.Background(), events(t, 3))
	if n != 1 || err == nil {
		t.Fatalf("Deliver = %d, %v; want 1 and an error: a refused event that cannot be dead-lettered stays queued", n, err)
	}
}

func TestAuthorizationHeaders(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	tokFile := filepath.Join(dir, "tok")
	if err := os.WriteFile(pwFile, []byte("s3cret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokFile, []byte("tok-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CRGATE_TEST_FHIR_TOKEN", "env-tok")
	tests := []struct {
		name string
		sink Sink
		want string
	}{
		{"ok/none", Sink{}, ""},
		{"ok/basic-file", Sink{BasicUser: "audit", BasicPasswordFile: pwFile}, "Basic YXVkaXQ6czNjcmV0LXB3"},
		{"ok/bearer-file", Sink{BearerTokenFile: tokFile}, "Bearer tok-123"},
		{"ok/bearer-env", Sink{BearerToken: "{env.CRGATE_TEST_FHIR_TOKEN}"}, "Bearer env-tok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			fs := &fakeServer{answer: func(w http.ResponseWriter, b sentBundle) { got = b.Header.Get("Authorization"); allOK(w, b) }}
			srv := httptest.NewServer(fs)
			defer srv.Close()
			sk := tc.sink
			sk.URL = srv.URL
			s, _ := provisioned(t, &sk)
			if n, err := s.Deliver(context.Background(), events(t, 1)); n != 1 || err != nil {
				t.Fatalf("Deliver = %d, %v", n, err)
			}
			if got != tc.want {
				t.Fatalf("Authorization = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConfigRefused(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("pw"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sink Sink
		want string // names the field
	}{
		{"fail/no-url", Sink{}, "url: required"},
		{"fail/http-to-network", Sink{URL: "http://10.1.2.3/fhir"}, "url: http is allowed only to a loopback"},
		{"fail/http-to-name", Sink{URL: "http://audit.example/fhir"}, "url: http is allowed only to a loopback"},
		{"fail/http-to-loopback-lookalike", Sink{URL: "http://127.0.0.1.nip.io/fhir"}, "url: http is allowed only to a loopback"},
		{"fail/ftp", Sink{URL: "ftp://127.0.0.1/"}, "url: scheme"},
		{"fail/userinfo", Sink{URL: "https://u:p@audit.example/fhir"}, "url: must not carry user info"},
		{"fail/query", Sink{URL: "https://audit.example/fhir?x=1"}, "url:"},
		{"fail/literal-password", Sink{URL: "https://a.example", BasicUser: "u", BasicPassword: "hunter2"}, "basic_password: must be an environment placeholder"},
		{"fail/literal-token", Sink{URL: "https://a.example", BearerToken: "abc"}, "bearer_token: must be an environment placeholder"},
		{"fail/placeholder-with-suffix", Sink{URL: "https://a.example", BearerToken: "{env.X}abc"}, "bearer_token: must be an environment placeholder"},
		{"fail/basic-and-bearer", Sink{URL: "https://a.example", BasicUser: "u", BasicPasswordFile: pwFile, BearerToken: "{env.X}"}, "choose one"},
		{"fail/password-without-user", Sink{URL: "https://a.example", BasicPasswordFile: pwFile}, "basic_user: required"},
		{"fail/user-without-password", Sink{URL: "https://a.example", BasicUser: "u"}, "basic_password_file: required"},
		{"fail/missing-password-file", Sink{URL: "https://a.example", BasicUser: "u", BasicPasswordFile: filepath.Join(dir, "nope")}, "basic_password_file:"},
		{"fail/empty-env", Sink{URL: "https://a.example", BearerToken: "{env.CRGATE_TEST_SURELY_UNSET}"}, "bearer_token: empty"},
		{"fail/cert-without-key", Sink{URL: "https://a.example", TLSCertFile: pwFile}, "tls_key: required"},
		{"fail/bad-ca", Sink{URL: "https://a.example", CAFile: pwFile}, "ca:"},
		{"fail/batch-too-big", Sink{URL: "https://a.example", BatchSize: 5000}, "batch_size:"},
		{"fail/bundle-bytes-too-small", Sink{URL: "https://a.example", MaxBundleBytes: 100}, "max_bundle_bytes:"},
		{"fail/method", Sink{URL: "https://a.example", Method: "patch"}, `method: "patch"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sk := tc.sink
			sk.DeadLetterFile = filepath.Join(t.TempDir(), "d")
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := sk.Provision(ctx)
			if err == nil {
				err = sk.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			for _, secret := range []string{"hunter2", "abc", "pw"} {
				if strings.Contains(err.Error(), `"`+secret+`"`) {
					t.Fatalf("error %q shows a secret", err)
				}
			}
		})
	}
}

func TestCleartextOnlyToLoopback(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080/fhir", "http://127.5.6.7/fhir", "http://[::1]:8080/fhir", "http://localhost/fhir", "https://audit.example/fhir", "https://10.0.0.5/fhir"} {
		t.Run("ok/"+u, func(t *testing.T) {
			if err := (&Sink{URL: u}).checkURL(); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, u := range []string{"http://10.0.0.5/fhir", "http://[::ffff:10.0.0.5]/fhir", "http://0.0.0.0/fhir", "http://[::]/fhir", "http://localhost.example/fhir", "http://127.0.0.1@evil.example/fhir", "HTTP://audit.example/fhir"} {
		t.Run("fail/"+u, func(t *testing.T) {
			if err := (&Sink{URL: u}).checkURL(); err == nil || !strings.HasPrefix(err.Error(), "url:") {
				t.Fatalf("error = %v, want a url: refusal", err)
			}
		})
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  Sink
		err   string
	}{
		{"ok/url-only", `fhir https://a.example/fhir`, Sink{URL: "https://a.example/fhir"}, ""},
		{"ok/full", `fhir https://a.example/fhir {
			tls_cert c.crt
			tls_key c.key
			ca ca.crt
			server_name audit.example
			basic_user audit
			basic_password_file /run/pw
			timeout 10s
			batch_size 50
			max_bundle_bytes 1048576
			dead_letter /var/lib/dl.jsonl
			method post
		}`, Sink{URL: "https://a.example/fhir", TLSCertFile: "c.crt", TLSKeyFile: "c.key", CAFile: "ca.crt", ServerName: "audit.example",
			BasicUser: "audit", BasicPasswordFile: "/run/pw", Timeout: caddy.Duration(10e9), BatchSize: 50, MaxBundleBytes: 1048576, DeadLetterFile: "/var/lib/dl.jsonl", Method: "post"}, ""},
		{"ok/bearer-env", `fhir https://a.example {
			bearer_token {env.TOK}
		}`, Sink{URL: "https://a.example", BearerToken: "{env.TOK}"}, ""},
		{"fail/no-url", `fhir`, Sink{}, "base URL is required"},
		{"fail/two-urls", `fhir https://a https://b`, Sink{}, "wrong argument count"},
		{"fail/unknown", `fhir https://a {
			verify off
		}`, Sink{}, `unrecognized subdirective "verify"`},
		{"fail/twice", `fhir https://a {
			ca a
			ca b
		}`, Sink{}, "ca: given twice"},
		{"fail/no-value", `fhir https://a {
			timeout
		}`, Sink{}, "wrong argument count"},
		{"fail/bad-batch", `fhir https://a {
			batch_size many
		}`, Sink{}, "batch_size: want a positive integer"},
		{"fail/negative-timeout", `fhir https://a {
			timeout -1s
		}`, Sink{}, "timeout: must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testpeer.Unmarshal(t, new(Sink), tc.input, tc.want, tc.err)
		})
	}
}

// TestDeliverKeepsNoEventMemory: events are valid only until Deliver
// returns (the app reuses their memory for the next batch); the server
// must get every event, and its id in the entry's URL, as they were
// handed over.
func TestDeliverKeepsNoEventMemory(t *testing.T) {
	fs := &fakeServer{answer: allOK}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	s, _ := provisioned(t, &Sink{URL: srv.URL + "/fhir/", BatchSize: 4})
	evs := events(t, 12)
	testpeer.DeliverBorrowed(t, s, evs[:5], evs[5:9], evs[9:])
	i := 0
	for _, b := range fs.bundles {
		for _, e := range b.Entry {
			if i >= len(evs) || string(e.Resource) != string(evs[i].JSON) || e.Request.URL != "AuditEvent/"+evs[i].ID {
				t.Fatalf("entry %d: %s %s, want the event as handed over", i, e.Request.URL, e.Resource)
			}
			i++
		}
	}
	if i != len(evs) {
		t.Fatalf("%d entries sent, want %d", i, len(evs))
	}
}
