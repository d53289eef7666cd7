package fhirsink

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/crgate/crgate/caddymodule/audit/auditsink"
	"github.com/crgate/crgate/internal/testpeer"
)

// Tests against a real FHIR server: medplum's FHIR router with its
// in-memory repository and validator (tools/fhir-server).

func idsOf(res []json.RawMessage) []string {
	var ids []string
	for _, r := range res {
		var v struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(r, &v)
		ids = append(ids, v.ID)
	}
	sort.Strings(ids)
	return ids
}

func wantIDs(evs []auditsink.Event) []string {
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	sort.Strings(ids)
	return ids
}

func TestMedplumStoresBatchesAndSearchFindsThem(t *testing.T) {
	t.Parallel()
	srv := testpeer.StartFHIR(t, testpeer.FHIROptions{})
	s, _ := provisioned(t, &Sink{URL: srv.Base, BatchSize: 7})
	var evs []auditsink.Event
	for i := range 30 {
		patient := "pat-a"
		if i%3 == 0 {
			patient = "pat-b"
		}
		evs = append(evs, testpeer.AuditEvent(t, uint64(i+1), patient, 0))
	}
	n, err := s.Deliver(context.Background(), evs)
	if n != len(evs) || err != nil {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	// ITI-81 style query by entity: exactly pat-b's ten events.
	var patB []auditsink.Event
	for i, e := range evs {
		if i%3 == 0 {
			patB = append(patB, e)
		}
	}
	if got, want := idsOf(srv.Search("entity=Patient/pat-b&_count=1000")), wantIDs(patB); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("entity=Patient/pat-b found %v, want %v", got, want)
	}
	all := srv.Search("_count=1000")
	if got, want := idsOf(all), wantIDs(evs); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("stored %d events, want the %d delivered", len(got), len(want))
	}
	// What is stored is the event (the server adds only meta).
	var stored, sent map[string]any
	_ = json.Unmarshal(srv.Search("_id=" + evs[4].ID)[0], &stored)
	_ = json.Unmarshal(evs[4].JSON, &sent)
	delete(stored, "meta")
	a, _ := json.Marshal(stored)
	b, _ := json.Marshal(sent)
	if string(a) != string(b) {
		t.Fatalf("stored %s\nsent   %s", a, b)
	}

	// Redelivery (at-least-once after a crash) updates, never duplicates.
	n, err = s.Deliver(context.Background(), evs[10:20])
	if n != 10 || err != nil {
		t.Fatalf("redelivery = %d, %v", n, err)
	}
	if got := len(srv.Search("_count=1000")); got != len(evs) {
		t.Fatalf("%d events stored after a redelivery, want %d", got, len(evs))
	}
}

// TestMedplumPostIsAtLeastOnce: with method post the server assigns ids,
// so a redelivery stores events again — the honest at-least-once the
// docs describe for servers without client-assigned ids.
func TestMedplumPostIsAtLeastOnce(t *testing.T) {
	t.Parallel()
	srv := testpeer.StartFHIR(t, testpeer.FHIROptions{})
	s, _ := provisioned(t, &Sink{URL: srv.Base, Method: MethodPost})
	var evs []auditsink.Event
	for i := range 10 {
		evs = append(evs, testpeer.AuditEvent(t, uint64(i+1), "post-"+string(rune('a'+i)), 0))
	}
	if n, err := s.Deliver(context.Background(), evs); n != 10 || err != nil {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	if n, err := s.Deliver(context.Background(), evs[5:]); n != 5 || err != nil {
		t.Fatalf("redelivery = %d, %v", n, err)
	}
	if got := len(srv.Search("_count=1000")); got != 15 {
		t.Fatalf("%d stored, want 15 (10 and 5 redelivered)", got)
	}
	for i := range evs {
		want := 1 + i/5 // the last five twice
		if got := len(srv.Search("entity=Patient/" + "post-" + string(rune('a'+i)))); got != want {
			t.Fatalf("event %d stored %d times, want %d", i, got, want)
		}
	}
}

func TestMedplumRejectsInvalidEventOthersStored(t *testing.T) {
	t.Parallel()
	srv := testpeer.StartFHIR(t, testpeer.FHIROptions{})
	s, logs := provisioned(t, &Sink{URL: srv.Base})
	evs := []auditsink.Event{testpeer.AuditEvent(t, 1, "p", 0), testpeer.AuditEvent(t, 2, "p", 0), testpeer.AuditEvent(t, 3, "p", 0)}
	// The server's validator refuses an AuditEvent without its required
	// type, recorded, agent and source.
	evs[1].JSON = []byte(`{"resourceType":"AuditEvent","id":"` + evs[1].ID + `","action":"R"}`)
	n, err := s.Deliver(context.Background(), evs)
	if n != 3 || err != nil {
		t.Fatalf("Deliver = %d, %v; want all 3 handled", n, err)
	}
	if got := idsOf(srv.Search("_count=1000")); strings.Join(got, ",") != strings.Join(wantIDs([]auditsink.Event{evs[0], evs[2]}), ",") {
		t.Fatalf("stored %v", got)
	}
	dead := testpeer.DeadLetters(t, s.DeadLetterFile)
	if len(dead) != 1 || dead[0].ID != evs[1].ID || !strings.HasPrefix(dead[0].Reason, "400") || !strings.Contains(dead[0].Reason, "AuditEvent.recorded") {
		t.Fatalf("dead letters = %+v", dead)
	}
	if st, _ := os.Stat(s.DeadLetterFile); st.Mode().Perm() != 0o600 {
		t.Fatalf("dead-letter file mode %v", st.Mode().Perm())
	}
	if logs.FilterMessageSnippet("dead-letter").Len() != 1 {
		t.Fatal("no error log for the dead-lettered event")
	}
}

func TestMedplumDownThenBack(t *testing.T) {
	t.Parallel()
	srv := testpeer.StartFHIR(t, testpeer.FHIROptions{})
	s, _ := provisioned(t, &Sink{URL: srv.Base, BatchSize: 10})
	var evs []auditsink.Event
	for i := range 50 {
		evs = append(evs, testpeer.AuditEvent(t, uint64(i+1), "p", 0))
	}
	ctx := context.Background()
	cursor := 0
	deliver := func(upTo int) error {
		k, err := s.Deliver(ctx, evs[cursor:upTo])
		cursor += k
		return err
	}
	if err := deliver(20); err != nil {
		t.Fatal(err)
	}
	srv.Down()
	if err := deliver(50); err == nil {
		t.Fatal("Deliver to a server that is down succeeded")
	}
	if cursor != 20 {
		t.Fatalf("cursor %d after a failed delivery, want 20", cursor)
	}
	srv.Up()
	// The app retries from its cursor; a handful of tries suffice.
	var err error
	for try := 0; cursor < 50 && try < 5; try++ {
		err = deliver(50)
	}
	if cursor != 50 || err != nil {
		t.Fatalf("after the server came back: cursor %d, %v", cursor, err)
	}
	if got := idsOf(srv.Search("_count=1000")); strings.Join(got, ",") != strings.Join(wantIDs(evs), ",") {
		t.Fatalf("%d stored, want all 50 exactly once", len(got))
	}
}

func TestMedplumMutualTLSAndBearer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := testpeer.NewPKI(t, dir)
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("t0ken-xyz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(pki.ClientCert, pki.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := testpeer.CertPool(t, pki.CAFile)
	srv := testpeer.StartFHIR(t, testpeer.FHIROptions{
		CertFile: pki.ServerCert, KeyFile: pki.ServerKey, ClientCAFile: pki.CAFile, BearerFile: tok,
		ClientTLS: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca}, ClientAuth: "Bearer t0ken-xyz",
	})
	if !strings.HasPrefix(srv.Base, "https://127.0.0.1:") {
		t.Fatalf("base %s", srv.Base)
	}
	ev := []auditsink.Event{testpeer.AuditEvent(t, 1, "p", 0)}
	t.Run("ok/client-cert-and-token", func(t *testing.T) {
		s, _ := provisioned(t, &Sink{URL: srv.Base, TLSCertFile: pki.ClientCert, TLSKeyFile: pki.ClientKey, CAFile: pki.CAFile, BearerTokenFile: tok})
		if n, err := s.Deliver(context.Background(), ev); n != 1 || err != nil {
			t.Fatalf("Deliver = %d, %v", n, err)
		}
		if len(srv.Search("_id="+ev[0].ID)) != 1 {
			t.Fatal("event not stored")
		}
	})
	t.Run("fail/no-client-cert", func(t *testing.T) {
		s, _ := provisioned(t, &Sink{URL: srv.Base, CAFile: pki.CAFile, BearerTokenFile: tok})
		if n, err := s.Deliver(context.Background(), ev); n != 0 || err == nil {
			t.Fatalf("Deliver = %d, %v; want refused", n, err)
		}
	})
	t.Run("fail/server-not-trusted", func(t *testing.T) {
		// Without the private CA the system roots cannot verify the
		// server: the sink never skips verification.
		s, _ := provisioned(t, &Sink{URL: srv.Base, TLSCertFile: pki.ClientCert, TLSKeyFile: pki.ClientKey, BearerTokenFile: tok})
		if n, err := s.Deliver(context.Background(), ev); n != 0 || err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Deliver = %d, %v; want a certificate error", n, err)
		}
	})
	t.Run("fail/wrong-server-name", func(t *testing.T) {
		s, _ := provisioned(t, &Sink{URL: srv.Base, ServerName: "audit.example", TLSCertFile: pki.ClientCert, TLSKeyFile: pki.ClientKey, CAFile: pki.CAFile, BearerTokenFile: tok})
		if n, err := s.Deliver(context.Background(), ev); n != 0 || err == nil {
			t.Fatalf("Deliver = %d, %v; want a name mismatch", n, err)
		}
	})
	t.Run("fail/wrong-token-retried-not-dead-lettered", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad")
		if err := os.WriteFile(bad, []byte("nope"), 0o600); err != nil {
			t.Fatal(err)
		}
		s, logs := provisioned(t, &Sink{URL: srv.Base, TLSCertFile: pki.ClientCert, TLSKeyFile: pki.ClientKey, CAFile: pki.CAFile, BearerTokenFile: bad})
		n, err := s.Deliver(context.Background(), []auditsink.Event{testpeer.AuditEvent(t, 2, "p", 0)})
		if n != 0 || err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("Deliver = %d, %v; want a 401 error", n, err)
		}
		if strings.Contains(err.Error(), "nope") || logs.FilterMessageSnippet("dead-letter").Len() != 0 {
			t.Fatal("the token leaked into the error, or a 401 dead-lettered the event")
		}
	})
}

func TestMedplumBasic(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("pässwörd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CRGATE_TEST_FHIR_PW", "pässwörd")
	srv := testpeer.StartFHIR(t, testpeer.FHIROptions{BasicUser: "auditor", BasicPasswordFile: pw, ClientAuth: "Basic YXVkaXRvcjpww6Rzc3fDtnJk"})
	for _, sk := range []*Sink{
		{URL: srv.Base, BasicUser: "auditor", BasicPasswordFile: pw},
		{URL: srv.Base, BasicUser: "auditor", BasicPassword: "{env.CRGATE_TEST_FHIR_PW}"},
	} {
		s, _ := provisioned(t, sk)
		ev := []auditsink.Event{testpeer.AuditEvent(t, 1, "p", 0)}
		if n, err := s.Deliver(context.Background(), ev); n != 1 || err != nil {
			t.Fatalf("Deliver = %d, %v", n, err)
		}
		if len(srv.Search("_id="+ev[0].ID)) != 1 {
			t.Fatal("event not stored")
		}
	}
}
