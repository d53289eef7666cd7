package adminauth

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/crgate/crgate/internal/cli"
)

// runUsers runs `crgate users args...` in-process.
func runUsers(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "users", SilenceUsage: true, SilenceErrors: true}
	cli.Group(root, usersAddCmd(), usersImportCmd(), usersResetCmd("reset-password"), usersResetCmd("reset-2fa"),
		usersStatusCmd("disable", StatusDisabled), usersStatusCmd("enable", StatusActive),
		usersListCmd(), usersHistoryCmd(), usersResetAllCmd())
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

var linkRE = regexp.MustCompile(`https://admin\.example:8443/_crgate/enrol\?t=([A-Za-z0-9_-]{43})`)

func TestUsersCommand(t *testing.T) {
	dir := t.TempDir()
	pepper, key := writeSecretFiles(t, dir)
	db := filepath.Join(dir, "accounts.db")
	store := "--store=sqlite:" + db
	base := "--link-base=https://admin.example:8443"
	ctx := context.Background()
	open := func() *Service {
		st, err := OpenSQLite(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		sec, err := LoadSecrets(SecretSource{File: pepper}, SecretSource{File: key}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return NewService(st, sec, Rules{})
	}

	out, err := runUsers(t, "add", "--email", "Ann@Example.org", "--name", "Ann", "--admin", store, base)
	m := linkRE.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	svc := open()
	if v, err := svc.OpenEnrolment(ctx, m[1], false); err != nil || v.Account.Role != RoleAdmin || v.Account.Email != "ann@example.org" {
		t.Fatalf("printed link: %+v %v", v, err)
	}
	if _, err := runUsers(t, "add", "--email", "ann@example.org", "--admin", store, base); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate add: %v", err)
	}
	if _, err := runUsers(t, "add", "--email", "x@example.org", store); err == nil || !strings.Contains(err.Error(), "--link-base") {
		t.Fatalf("add without link base: %v", err)
	}

	// --password-once: a compliant password, printed once, never stored in clear.
	out, err = runUsers(t, "add", "--email", "bob@example.org", "--password-once", store, "--pepper-file", pepper, "--totp-key-file", key)
	if err != nil {
		t.Fatalf("password-once: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	pw := lines[len(lines)-1]
	if CheckPassword(pw, "bob@example.org", 0) != nil {
		t.Fatalf("printed password %q fails the policy", pw)
	}
	// Logging in with it leads to TOTP enrolment, not a session.
	res, err := svc.Login(ctx, AccountKey{"bob@example.org", RoleUser}, pw, "", "127.0.0.1")
	if err != nil || res.EnrolToken == "" || res.SessionID != "" {
		t.Fatalf("first login: %+v %v", res, err)
	}

	// import: a password column is refused with the reason.
	csvBad := filepath.Join(dir, "bad.csv")
	os.WriteFile(csvBad, []byte("email,name,role,Password\nc@example.org,C,user,hunter2\n"), 0o600)
	if _, err := runUsers(t, "import", csvBad, store, base); err == nil || !strings.Contains(err.Error(), "never imports passwords") {
		t.Fatalf("password column: %v", err)
	}
	csvDup := filepath.Join(dir, "dup.csv")
	os.WriteFile(csvDup, []byte("email,name,role\nc@example.org,C,user\nC@example.org,C2,\n"), 0o600)
	if _, err := runUsers(t, "import", csvDup, store, base); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("duplicate rows: %v", err)
	}
	csvOK := filepath.Join(dir, "ok.csv")
	os.WriteFile(csvOK, []byte("\ufeffemail,role,name\nc@example.org,user,Cee\nd@example.org,,Dee\nann@example.org,user,Ann\n"), 0o600)
	links := filepath.Join(dir, "links.csv")
	if out, err := runUsers(t, "import", csvOK, "--links-out", links, store, base); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	fi, err := os.Stat(links)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("links file: %v %v", fi, err)
	}
	data, _ := os.ReadFile(links)
	if got := len(linkRE.FindAllString(string(data), -1)); got != 3 || !strings.HasPrefix(string(data), "email,role,link\n") {
		t.Fatalf("links file:\n%s", data)
	}
	// The links file is never overwritten.
	if _, err := runUsers(t, "import", csvOK, "--links-out", links, store, base); err == nil {
		t.Fatal("second import succeeded")
	}

	if out, err := runUsers(t, "disable", "c@example.org", store); err != nil || !strings.Contains(out, "-> disabled") {
		t.Fatalf("disable: %v %s", err, out)
	}
	if out, _ := runUsers(t, "disable", "c@example.org", store); !strings.Contains(out, "already disabled") {
		t.Fatalf("disable twice: %s", out)
	}
	if _, err := runUsers(t, "disable", "nobody@example.org", store); err == nil {
		t.Fatal("disabled a missing account")
	}
	out, _ = runUsers(t, "list", "--role", "user", store)
	if !strings.Contains(out, "c@example.org") || !strings.Contains(out, "disabled") || strings.Contains(out, "admin ") {
		t.Fatalf("list:\n%s", out)
	}
	out, err = runUsers(t, "history", "ann@example.org", store)
	if err != nil || !strings.Contains(out, "created") || !strings.Contains(out, "cli:") || strings.Count(out, "enrolment_issued") != 2 {
		t.Fatalf("history: %v\n%s", err, out)
	}
	if out, err := runUsers(t, "reset-2fa", "ann@example.org", "--admin", store, base); err != nil || linkRE.FindString(out) == "" {
		t.Fatalf("reset-2fa: %v %s", err, out)
	}

	// reset-all: every user password gone, a link per active user account.
	out, err = runUsers(t, "reset-all", "--role", "user", store, base)
	if err != nil {
		t.Fatalf("reset-all: %v\n%s", err, out)
	}
	if n := len(linkRE.FindAllString(out, -1)); n != 3 { // bob, d, ann(user); c is disabled
		t.Fatalf("reset-all links %d:\n%s", n, out)
	}
	list, _ := svc.Store.ListAccounts(ctx, RoleUser)
	for _, a := range list {
		if a.PasswordHash != "" {
			t.Fatalf("%s kept its password", a.AccountKey)
		}
	}
	if _, err := runUsers(t, "reset-all", store, base); err == nil {
		t.Fatal("reset-all without --role")
	}
	if _, err := runUsers(t, "frobnicate", store); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
}

func TestParseStoreSpec(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want StoreConfig
		err  string
	}{
		{"sqlite:/var/lib/crgate/a.db", StoreConfig{Driver: "sqlite", Path: "/var/lib/crgate/a.db"}, ""},
		{"postgres:env:PGDSN", StoreConfig{Driver: "postgres", DSNEnv: "PGDSN"}, ""},
		{"postgres:file:/etc/crgate/dsn", StoreConfig{Driver: "postgres", DSNFile: "/etc/crgate/dsn"}, ""},
		{"postgres://u:pw@h/db", StoreConfig{}, "DSN itself stays off the command line"},
		{"sqlite:", StoreConfig{}, "needs a path"},
		{"mysql:x", StoreConfig{}, "want sqlite:PATH"},
	} {
		got, err := ParseStoreSpec(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v", tc.spec, got, err)
		}
	}
}
