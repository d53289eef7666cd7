package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoginAudit checks that the admin door's events reach the audit
// trail of the repository Caddyfile's audit app (file sink under
// CRGATE_AUDIT_DIR): logins that succeed and fail (DICOM 110114/110122)
// and account changes made by `crgate users` and by the person (110113/
// 110137, sent by the gateway from the store's history). It needs the
// audit app, built on the audit branch; until the binary has it the test
// says so and stops.
func TestLoginAudit(t *testing.T) {
	out, err := exec.Command(crgateBin, "list-modules").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains("\n"+string(out), "\naudit\n") {
		t.Skip("this binary has no audit app yet (audit branch not merged)")
	}
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	devAdminSession(t, g) // created by the CLI, enrolled and logged in
	d := &loginDoor{gateway: g, sitePort: g.adminSite, store: "sqlite:" + filepath.Join(g.certs, "accounts.db")}
	d.person(t).login("operator@example.org", "not the password at all", "000000")

	type event struct {
		Outcome     string `json:"outcome"`
		OutcomeDesc string `json:"outcomeDesc"`
		Subtype     []struct{ Code string }
		Entity      []struct{ Description string }
		Agent       []struct {
			Who struct{ Identifier struct{ Value string } }
		}
	}
	var events []event
	path := filepath.Join(g.certs, "audit", "audit.jsonl")
	has := func(code, outcome, text string) bool {
		for _, e := range events {
			raw, _ := json.Marshal(e)
			if len(e.Subtype) > 0 && e.Subtype[0].Code == code && e.Outcome == outcome && strings.Contains(string(raw), text) {
				return true
			}
		}
		return false
	}
	waitFor(t, "the door's events in the audit file", 30*time.Second, func() bool {
		data, _ := os.ReadFile(path)
		events = events[:0]
		for _, line := range strings.Split(string(data), "\n") {
			var l struct{ Event event }
			if json.Unmarshal([]byte(line), &l) == nil {
				events = append(events, l.Event)
			}
		}
		return has("110122", "0", "operator@example.org") && has("110122", "4", "wrong_password") &&
			has("110137", "0", "totp_enrolled") && has("110137", "0", "cli:")
	})
}
