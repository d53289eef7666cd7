package sim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestControlClient(t *testing.T) {
	ctx := context.Background()
	_, a := startSim(t, Options{})
	ctl := a.ControlURL()
	if err := WaitHealthy(ctx, ctl); err != nil {
		t.Fatal(err)
	}
	// The bare host:port form works too.
	if err := Health(ctx, a.Control); err != nil {
		t.Fatal(err)
	}

	t.Run("fail-next", func(t *testing.T) {
		if err := FailNext(ctx, ctl, http.StatusServiceUnavailable, 2); err != nil {
			t.Fatal(err)
		}
		for i, want := range []int{503, 503, 200} {
			code, body := get(t, a.ListenURL()+"/fhir/metadata")
			if code != want {
				t.Errorf("request %d: %d, want %d", i, code, want)
			}
			if code == 503 && !strings.Contains(body, "simulated upstream failure") {
				t.Errorf("failure body %s", body)
			}
		}
		if err := FailNext(ctx, ctl, 500, 3); err != nil {
			t.Fatal(err)
		}
		if err := FailNext(ctx, ctl, 500, 0); err != nil {
			t.Fatal(err)
		}
		if code, _ := get(t, a.ListenURL()+"/fhir/metadata"); code != 200 {
			t.Errorf("count=0 did not cancel: %d", code)
		}
		for _, bad := range []int{200, 302, 600} {
			if err := FailNext(ctx, ctl, bad, 1); err == nil {
				t.Errorf("FailNext(%d) accepted", bad)
			}
		}
	})

	t.Run("failed-requests-are-recorded", func(t *testing.T) {
		if err := Reset(ctx, ctl); err != nil {
			t.Fatal(err)
		}
		if err := FailNext(ctx, ctl, 502, 1); err != nil {
			t.Fatal(err)
		}
		get(t, a.ListenURL()+"/fhir/Patient?_id=p-0001")
		recs, err := Records(ctx, ctl)
		if err != nil || len(recs) != 1 || recs[0].RequestURI != "/fhir/Patient?_id=p-0001" {
			t.Errorf("records %+v (%v)", recs, err)
		}
	})

	t.Run("delay-next", func(t *testing.T) {
		const delay = 300 * time.Millisecond
		if err := DelayNext(ctx, ctl, delay, 1); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		get(t, a.ListenURL()+"/fhir/metadata")
		if d := time.Since(start); d < delay {
			t.Errorf("delayed request took %v", d)
		}
		// Only the next request was delayed.
		start = time.Now()
		get(t, a.ListenURL()+"/fhir/metadata")
		if d := time.Since(start); d >= delay {
			t.Errorf("undelayed request took %v", d)
		}
		if err := DelayNext(ctx, ctl, 61*time.Second, 1); err == nil {
			t.Error("DelayNext(61s) accepted")
		}
	})

	t.Run("reset-and-since", func(t *testing.T) {
		if err := Reset(ctx, ctl); err != nil {
			t.Fatal(err)
		}
		if recs, err := Records(ctx, ctl); err != nil || len(recs) != 0 {
			t.Fatalf("after reset: %d records (%v)", len(recs), err)
		}
		get(t, a.ListenURL()+"/home")
		get(t, a.ListenURL()+"/crux")
		recs, err := Records(ctx, ctl)
		if err != nil || len(recs) != 2 || recs[0].Path != "/home" || recs[1].Seq != recs[0].Seq+1 {
			t.Fatalf("records %+v (%v)", recs, err)
		}
		later, err := RecordsSince(ctx, ctl, recs[0].Seq)
		if err != nil || len(later) != 1 || later[0].Path != "/crux" {
			t.Errorf("since: %+v (%v)", later, err)
		}
	})

	t.Run("control-api-is-not-on-the-registry-surface", func(t *testing.T) {
		for _, p := range []string{"/records", "/health", "/fail-next"} {
			code, body := get(t, a.ListenURL()+p)
			if code != http.StatusNotFound || !strings.Contains(body, `"error":"not found"`) {
				t.Errorf("%s on the registry surface: %d %s", p, code, body)
			}
		}
	})

	t.Run("control-api-refuses-foreign-host", func(t *testing.T) {
		req, _ := http.NewRequest("GET", ctl+"/records", nil)
		req.Host = "attacker.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("status %d, want 403", resp.StatusCode)
		}
	})

	t.Run("control-api-errors", func(t *testing.T) {
		for _, u := range []string{"/fail-next?status=abc", "/delay-next", "/delay-next?ms=60001", "/fail-next?count=-1"} {
			resp, err := http.Post(ctl+u, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("POST %s: %d", u, resp.StatusCode)
			}
		}
		if code, _ := get(t, ctl+"/records?since=x"); code != http.StatusBadRequest {
			t.Errorf("since=x: %d", code)
		}
		if code, _ := get(t, ctl+"/fail-next"); code != http.StatusMethodNotAllowed {
			t.Errorf("GET /fail-next: %d", code)
		}
	})
}

func TestRecordJSONShape(t *testing.T) {
	// The field names are the contract with the end-to-end suite.
	g := newReg(t, Options{})
	serve(g, "POST", "/fhir/Patient?x=1", `{"resourceType":"Patient"}`, "X-Test", "a")
	w := serve(g.ControlHandler(), "GET", "http://127.0.0.1/records", "")
	var recs []map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &recs); err != nil || len(recs) != 1 {
		t.Fatalf("%v: %s", err, w.Body.String())
	}
	for _, k := range []string{"seq", "time", "method", "request_uri", "path", "raw_path", "query", "proto", "host",
		"headers", "body_bytes", "body_sha256", "remote_addr", "content_length"} {
		if _, ok := recs[0][k]; !ok {
			t.Errorf("record lacks %q: %s", k, w.Body.String())
		}
	}
}
