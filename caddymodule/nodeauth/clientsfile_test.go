package nodeauth

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crgate/crgate/internal/certfp"
)

func fpA() string { return certfp.Of([]byte("a")).String() }
func fpB() string { return certfp.Of([]byte("b")).String() }

func client(id, name, status string, fps, scopes []string) string {
	q := func(ss []string) string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(out, ",") + "]"
	}
	return fmt.Sprintf(`{"id":%q,"name":%q,"status":%q,"fingerprints":%s,"scopes":%s}`, id, name, status, q(fps), q(scopes))
}

func TestParseClients(t *testing.T) {
	ok := client("dhis2", "DHIS2", "active", []string{fpA()}, []string{"Patient.search"})
	tests := []struct {
		name    string
		file    string
		wantErr string // substring naming the field; empty for success
	}{
		{"ok/one", `{"clients":[` + ok + `]}`, ""},
		{"ok/empty-list", `{"clients":[]}`, ""},
		{"ok/disabled-and-two-certs", `{"clients":[` + client("a", "A", "disabled", []string{fpA(), fpB()}, nil) + `]}`, ""},
		{"ok/unknown-field", `{"clients":[{"id":"a","name":"A","status":"active","fingerprints":["` + fpA() + `"],"scopes":[],"note":"x"}],"comment":"y"}`, ""},
		{"fail/not-json", `{"clients":`, "decoding JSON"},
		{"fail/trailing-data", `{"clients":[]} {}`, "after the top-level object"},
		{"fail/no-clients", `{}`, `"clients": required`},
		{"fail/bad-id", `{"clients":[` + client("a b", "A", "active", []string{fpA()}, nil) + `]}`, "clients[0] (id \"a b\"): id:"},
		{"fail/empty-id", `{"clients":[` + client("", "A", "active", []string{fpA()}, nil) + `]}`, "clients[0]: id:"},
		{"fail/duplicate-id", `{"clients":[` + ok + `,` + client("dhis2", "B", "active", []string{fpB()}, nil) + `]}`, `clients[1] (id "dhis2"): id: duplicate`},
		{"fail/malformed-fingerprint", `{"clients":[` + client("a", "A", "active", []string{"AB:CD"}, nil) + `]}`, `clients[0] (id "a"): fingerprints[0]: malformed`},
		{"fail/no-fingerprint", `{"clients":[` + client("a", "A", "active", nil, nil) + `]}`, "fingerprints: at least one"},
		{"fail/fingerprint-twice-in-node", `{"clients":[` + client("a", "A", "active", []string{fpA(), strings.ToLower(fpA())}, nil) + `]}`, "fingerprints[1]: listed twice"},
		{"fail/fingerprint-in-two-nodes", `{"clients":[` + ok + `,` + client("b", "B", "active", []string{fpA()}, nil) + `]}`, `clients[1] (id "b"): fingerprints[0]: already registered to node "dhis2"`},
		{"fail/unknown-scope", `{"clients":[` + client("a", "A", "active", []string{fpA()}, []string{"Patient.read", "Patient.readall"}) + `]}`, `clients[0] (id "a"): scopes: scope 1: unknown scope "Patient.readall"`},
		{"fail/missing-status", `{"clients":[{"id":"a","name":"A","fingerprints":["` + fpA() + `"],"scopes":[]}]}`, "status: required"},
		{"fail/bad-status", `{"clients":[` + client("a", "A", "enabled", []string{fpA()}, nil) + `]}`, `status: "enabled" is not`},
		{"fail/missing-name", `{"clients":[` + client("a", " ", "active", []string{fpA()}, nil) + `]}`, "name: required"},
		{"fail/name-newline", `{"clients":[` + client("a", "A\r\nX-Openhim-Clientid: evil", "active", []string{fpA()}, nil) + `]}`, "name:"},
		{"fail/field-case-variant", `{"clients":[{"id":"a","name":"A","status":"disabled","Status":"active","fingerprints":["` + fpA() + `"],"scopes":[]}]}`, "clients[0].Status: field names are case-sensitive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := parseClients([]byte(tt.file))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if table == nil {
					t.Fatal("nil table")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseClientsUnknownFieldsReported(t *testing.T) {
	table, err := parseClients([]byte(`{"clients":[{"id":"a","name":"A","status":"active","fingerprints":["` + fpA() + `"],"scopes":[],"scope":["Patient.read"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(table.unknownFields) != 1 || table.unknownFields[0] != "clients[0].scope" {
		t.Fatalf("unknownFields = %v, want [clients[0].scope]", table.unknownFields)
	}
	// The typo'd "scope" grants nothing: fail closed.
	if table.byID["a"].node.Scopes.Len() != 0 {
		t.Fatal("a misspelled scopes field granted scopes")
	}
}
