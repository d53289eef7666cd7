package adminauth

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/crgate/crgate/internal/cli"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "users",
		Short: "Manages the people who may log in at the admin door (admin_login)",
		Long: `
Creates and manages the accounts admin_login checks, in the same store the
gateway uses (give the same store, pepper and key as its admin_login block).
Nobody ever sees another person's password: new accounts and resets print a
one-time enrolment link (single use, 24 h by default) through which the
person sets their own password and enrols their authenticator app.

Every change is appended to the store's history; a running gateway with an
audit app sends those rows to the audit pipeline within its history_interval.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cli.Group(cmd, usersAddCmd(), usersImportCmd(), usersResetCmd("reset-password"), usersResetCmd("reset-2fa"),
				usersStatusCmd("disable", StatusDisabled), usersStatusCmd("enable", StatusActive),
				usersListCmd(), usersHistoryCmd(), usersResetAllCmd())
		},
	})
}

// storeFlags are the flags every users subcommand takes.
func storeFlags(c *cobra.Command, links bool) {
	f := c.Flags()
	f.String("store", os.Getenv("CRGATE_USERS_STORE"), "the account store: sqlite:PATH, postgres:env:VAR or postgres:file:PATH (default $CRGATE_USERS_STORE)")
	f.String("pepper-file", "", "file holding the pepper (as admin_login's pepper_file); needed by --password-once")
	f.String("pepper-env", "", "environment variable holding the pepper")
	f.String("totp-key-file", "", "file holding the TOTP key (as admin_login's totp_key_file); checked with the pepper")
	f.String("totp-key-env", "", "environment variable holding the TOTP key")
	if links {
		f.String("link-base", os.Getenv("CRGATE_USERS_LINK_BASE"), "the admin site's URL for enrolment links, e.g. https://admin.example:8443 (default $CRGATE_USERS_LINK_BASE)")
		f.Duration("link-ttl", DefaultEnrolmentTTL, "how long enrolment links work")
	}
}

// cliEnv is an open store for one command.
type cliEnv struct {
	svc      *Service
	linkBase string
	actor    string
}

func openCLI(cmd *cobra.Command, needSecrets, needLinks bool) (*cliEnv, error) {
	f := cmd.Flags()
	spec, _ := f.GetString("store")
	if spec == "" {
		return nil, errors.New("--store is required (sqlite:PATH, postgres:env:VAR or postgres:file:PATH)")
	}
	sc, err := ParseStoreSpec(spec)
	if err != nil {
		return nil, err
	}
	env := &cliEnv{actor: "cli"}
	if u, err := user.Current(); err == nil {
		env.actor = "cli:" + u.Username
	}
	rules := Rules{}
	if needLinks {
		env.linkBase, _ = f.GetString("link-base")
		env.linkBase = strings.TrimRight(env.linkBase, "/")
		if !strings.HasPrefix(env.linkBase, "https://") {
			return nil, errors.New("--link-base is required: the admin site's https:// URL that the links point to")
		}
		rules.EnrolmentTTL, _ = f.GetDuration("link-ttl")
		if rules.EnrolmentTTL <= 0 {
			return nil, errors.New("--link-ttl must be positive")
		}
	}
	var sec *Secrets
	if needSecrets {
		pf, _ := f.GetString("pepper-file")
		pe, _ := f.GetString("pepper-env")
		kf, _ := f.GetString("totp-key-file")
		ke, _ := f.GetString("totp-key-env")
		if sec, err = LoadSecrets(SecretSource{File: pf, Env: pe}, SecretSource{File: kf, Env: ke}, 0); err != nil {
			return nil, fmt.Errorf("%w (give --pepper-file/--pepper-env and --totp-key-file/--totp-key-env)", err)
		}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	st, err := sc.Open(ctx)
	if err != nil {
		return nil, err
	}
	env.svc = NewService(st, sec, rules)
	return env, nil
}

func (e *cliEnv) link(tok string) string { return e.linkBase + EnrolPath(tok) }

func roleFlag(c *cobra.Command) {
	c.Flags().Bool("admin", false, "the account's admin profile (default: its user profile)")
}

func roleOf(cmd *cobra.Command) Role {
	if admin, _ := cmd.Flags().GetBool("admin"); admin {
		return RoleAdmin
	}
	return RoleUser
}

// openForAccount opens the store for a command on one account (EMAIL
// argument, --admin flag).
func openForAccount(cmd *cobra.Command, args []string, needLinks bool) (*cliEnv, AccountKey, error) {
	email, err := NormalizeEmail(args[0])
	if err != nil {
		return nil, AccountKey{}, err
	}
	env, err := openCLI(cmd, false, needLinks)
	return env, AccountKey{Email: email, Role: roleOf(cmd)}, err
}

func usersAddCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "add --email E [--name N] [--admin] [--password-once] --store S --link-base URL",
		Short: "Creates an account and prints its one-time enrolment link",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			once, _ := f.GetBool("password-once")
			env, err := openCLI(cmd, once, !once)
			if err != nil {
				return err
			}
			defer env.svc.Store.Close()
			email, _ := f.GetString("email")
			name, _ := f.GetString("name")
			role := roleOf(cmd)
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			if !once {
				tok, err := env.svc.CreateAccount(ctx, email, name, role, env.actor)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "created %s (%s). One-time enrolment link (valid %s; send it to the person only):\n%s\n", email, role, env.svc.Rules.EnrolmentTTL, env.link(tok))
				return nil
			}
			e, err := NormalizeEmail(email)
			if err != nil {
				return err
			}
			pw := compliantPassword(e)
			hash, err := env.svc.Secrets.HashPassword(pw)
			if err != nil {
				return err
			}
			now := env.svc.Now()
			k := AccountKey{Email: e, Role: role}
			if err := env.svc.Store.CreateAccount(ctx, &Account{AccountKey: k, Name: name, Status: StatusActive}, env.actor, now); err != nil {
				return err
			}
			if err := env.svc.Store.SetPassword(ctx, k, hash, ActionPasswordSet, env.actor, "", now); err != nil {
				return err
			}
			fmt.Fprintf(out, "created %s (%s). Its password, shown this once (the person enrols an authenticator app at first login and should then change it):\n%s\n", e, role, pw)
			return nil
		},
	}
	storeFlags(c, true)
	roleFlag(c)
	c.Flags().String("email", "", "the person's email (their login name)")
	c.Flags().String("name", "", "the person's name")
	c.Flags().Bool("password-once", false, "print a random compliant password once instead of a link (for sites without a way to send links)")
	_ = c.MarkFlagRequired("email")
	return c
}

// compliantPassword makes a random password the policy accepts: 20
// characters from a 56-symbol alphabet without look-alikes (~116 bits).
func compliantPassword(email string) string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	for {
		b := mustRandom(20)
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)] // 256 % 56 bias is irrelevant at 116 bits
		}
		if CheckPassword(string(b), email, 0) == nil {
			return string(b)
		}
	}
}

// linksWriter returns where enrolment links go: a new file created 0600
// (never overwriting one), or stdout when path is "" or "-".
func linksWriter(cmd *cobra.Command, path string) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return cmd.OutOrStdout(), func() error { return nil }, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("links file: %w", err)
	}
	return f, f.Close, nil
}

// writeLinks runs issue, writing each link it emits as an email,role,link
// CSV row to --links-out (a new file, mode 0600) or stdout. Rows emitted
// before an error are still written: their accounts exist.
func writeLinks(cmd *cobra.Command, issue func(emit func(k AccountKey, link string)) error) error {
	path, _ := cmd.Flags().GetString("links-out")
	w, closeFn, err := linksWriter(cmd, path)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"email", "role", "link"})
	ierr := issue(func(k AccountKey, link string) { _ = cw.Write([]string{k.Email, string(k.Role), link}) })
	cw.Flush()
	if err := errors.Join(ierr, cw.Error(), closeFn()); err != nil {
		return err
	}
	if path != "" && path != "-" {
		fmt.Fprintf(cmd.ErrOrStderr(), "enrolment links written to %s (mode 0600; delete it once they are sent)\n", path)
	}
	return nil
}

// refusedColumn reports a CSV column that looks like it carries a secret.
func refusedColumn(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, bad := range []string{"pass", "pwd", "secret", "totp", "otp", "pin", "hash", "kennwort", "mot de passe", "contrase", "senha"} {
		if strings.Contains(n, bad) {
			return true
		}
	}
	return false
}

func usersImportCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "import FILE.csv [--links-out FILE] --store S --link-base URL",
		Short: "Creates accounts from a CSV of email,name,role and writes their enrolment links",
		Long: `
FILE.csv has a header row naming the columns email, name and role (role is
user or admin; empty means user). A CSV with any other column is refused, and
one that carries passwords is refused with an explanation: passwords are
never set by import, each person sets their own through their link.
Every row is checked before any account is created. Links go to --links-out
(a new file, mode 0600) as email,role,link rows for an SMS/email gateway, or
to stdout.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rows, err := readImport(args[0])
			if err != nil {
				return err
			}
			env, err := openCLI(cmd, false, true)
			if err != nil {
				return err
			}
			defer env.svc.Store.Close()
			ctx := cmd.Context()
			for _, r := range rows {
				if _, err := env.svc.Store.Account(ctx, r.AccountKey); err == nil {
					return fmt.Errorf("%s: line %d: %s already exists; nothing was imported", args[0], r.line, r.AccountKey)
				}
			}
			err = writeLinks(cmd, func(emit func(k AccountKey, link string)) error {
				for _, r := range rows {
					tok, err := env.svc.CreateAccount(ctx, r.Email, r.name, r.Role, env.actor)
					if err != nil {
						return fmt.Errorf("%s: line %d: %w (accounts before it were created; their links are in the output)", args[0], r.line, err)
					}
					emit(r.AccountKey, env.link(tok))
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "created %d accounts\n", len(rows))
			return nil
		},
	}
	storeFlags(c, true)
	c.Flags().String("links-out", "", "write the links to this new file (0600) instead of stdout")
	return c
}

type importRow struct {
	AccountKey
	name string
	line int
}

func readImport(path string) ([]importRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the header row: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if refusedColumn(name) {
			return nil, fmt.Errorf("%s: column %q looks like it holds passwords or secrets; refused. crgate never imports passwords: "+
				"a password list is exactly what this tool replaces. Remove the column (and destroy copies of the list); "+
				"each person sets their own password through the enrolment link", path, h)
		}
		switch name {
		case "email", "name", "role":
			if _, dup := col[name]; dup {
				return nil, fmt.Errorf("%s: column %q appears twice", path, name)
			}
			col[name] = i
		default:
			return nil, fmt.Errorf("%s: unknown column %q (want email, name, role)", path, h)
		}
	}
	if _, ok := col["email"]; !ok {
		return nil, fmt.Errorf("%s: no email column", path)
	}
	var rows []importRow
	seen := map[AccountKey]int{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		field := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		email, err := NormalizeEmail(field("email"))
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, line, err)
		}
		role := RoleUser
		if v := field("role"); v != "" {
			if role, err = ParseRole(strings.ToLower(v)); err != nil {
				return nil, fmt.Errorf("%s: line %d: %w", path, line, err)
			}
		}
		k := AccountKey{Email: email, Role: role}
		if prev, dup := seen[k]; dup {
			return nil, fmt.Errorf("%s: line %d: %s repeats line %d", path, line, k, prev)
		}
		seen[k] = line
		rows = append(rows, importRow{AccountKey: k, name: field("name"), line: line})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no accounts", path)
	}
	return rows, nil
}

func usersResetCmd(verb string) *cobra.Command {
	what := map[string]string{"reset-password": "password", "reset-2fa": "authenticator (TOTP) enrolment"}[verb]
	c := &cobra.Command{
		Use:   verb + " EMAIL [--admin] --store S --link-base URL",
		Short: "Removes an account's " + what + ", ends its sessions and prints an enrolment link",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, k, err := openForAccount(cmd, args, true)
			if err != nil {
				return err
			}
			defer env.svc.Store.Close()
			var tok string
			if verb == "reset-password" {
				tok, err = env.svc.ResetPassword(cmd.Context(), k, env.actor)
			} else {
				tok, err = env.svc.ResetTOTP(cmd.Context(), k, env.actor)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s removed, sessions ended. One-time enrolment link (valid %s):\n%s\n", k, what, env.svc.Rules.EnrolmentTTL, env.link(tok))
			return nil
		},
	}
	storeFlags(c, true)
	roleFlag(c)
	return c
}

func usersStatusCmd(verb string, st Status) *cobra.Command {
	c := &cobra.Command{
		Use:   verb + " EMAIL [--admin] --store S",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + "s an account (a disabled account cannot log in; its sessions end at once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, k, err := openForAccount(cmd, args, false)
			if err != nil {
				return err
			}
			defer env.svc.Store.Close()
			changed, err := env.svc.Store.SetStatus(cmd.Context(), k, st, env.actor, env.svc.Now())
			if err != nil {
				return err
			}
			if !changed {
				fmt.Fprintf(cmd.OutOrStdout(), "%s is already %s; nothing changed\n", k, st)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: status -> %s\n", k, st)
			return nil
		},
	}
	storeFlags(c, false)
	roleFlag(c)
	return c
}

func usersListCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "list [--role admin|user] --store S",
		Short: "Lists accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := openCLI(cmd, false, false)
			if err != nil {
				return err
			}
			defer env.svc.Store.Close()
			r, _ := cmd.Flags().GetString("role")
			var role Role
			if r != "" {
				if role, err = ParseRole(r); err != nil {
					return err
				}
			}
			list, err := env.svc.Store.ListAccounts(cmd.Context(), role)
			if err != nil {
				return err
			}
			now := env.svc.Now()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EMAIL\tROLE\tSTATUS\tPASSWORD\tTOTP\tLOCKED\tNAME")
			for _, a := range list {
				locked := "-"
				if now.Before(a.LockedUntil) {
					locked = "until " + a.LockedUntil.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Email, a.Role, a.Status, yesNo(a.PasswordHash != ""), yesNo(a.TOTPSealed != ""), locked, a.Name)
			}
			return tw.Flush()
		},
	}
	storeFlags(c, false)
	c.Flags().String("role", "", "only this role")
	return c
}

func yesNo(b bool) string {
	if b {
		return "set"
	}
	return "-"
}

func usersHistoryCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "history EMAIL --store S",
		Short: "Shows every change to an email's accounts (both profiles)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := openCLI(cmd, false, false)
			if err != nil {
				return err
			}
			defer env.svc.Store.Close()
			email, err := NormalizeEmail(args[0])
			if err != nil {
				return err
			}
			h, err := env.svc.Store.History(cmd.Context(), email)
			if err != nil {
				return err
			}
			if len(h) == 0 {
				return fmt.Errorf("no history for %s", email)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tROLE\tACTION\tACTOR\tSTATUS\tDETAIL")
			for _, e := range h {
				status := string(e.NewStatus)
				if e.OldStatus != e.NewStatus && e.OldStatus != "" {
					status = string(e.OldStatus) + " -> " + string(e.NewStatus)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), e.Role, e.Action, e.Actor, status, e.Detail)
			}
			return tw.Flush()
		},
	}
	storeFlags(c, false)
	return c
}

func usersResetAllCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "reset-all --role user|admin [--links-out FILE] --store S --link-base URL",
		Short: "After a credential leak: invalidates every password and session of a role and issues fresh enrolment links",
		Long: `
Ends every session of the role at once, removes every password of its active
accounts and writes a fresh one-time enrolment link per account (email,role,link
CSV to --links-out, a new 0600 file, or stdout). Each person sets a new
password through their link, proving themselves with their authenticator code.
Disabled accounts lose their password too but get no link.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, _ := cmd.Flags().GetString("role")
			role, err := ParseRole(r)
			if err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			env, err := openCLI(cmd, false, true)
			if err != nil {
				return err
			}
			defer env.svc.Store.Close()
			ctx := cmd.Context()
			ended, err := env.svc.Store.EndAllSessions(ctx, role)
			if err != nil {
				return err
			}
			list, err := env.svc.Store.ListAccounts(ctx, role)
			if err != nil {
				return err
			}
			n := 0
			err = writeLinks(cmd, func(emit func(k AccountKey, link string)) error {
				for _, a := range list {
					if err := env.svc.Store.SetPassword(ctx, a.AccountKey, "", ActionPasswordReset, env.actor+" (reset-all)", "", env.svc.Now()); err != nil {
						return fmt.Errorf("%s: %w", a.AccountKey, err)
					}
					if a.Status != StatusActive {
						continue
					}
					tok, err := env.svc.IssueEnrolment(ctx, a.AccountKey, env.actor+" (reset-all)")
					if err != nil {
						return fmt.Errorf("%s: %w", a.AccountKey, err)
					}
					emit(a.AccountKey, env.link(tok))
					n++
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "role %s: %d sessions ended, %d passwords removed, %d enrolment links issued\n", role, ended, len(list), n)
			return nil
		},
	}
	storeFlags(c, true)
	c.Flags().String("role", "", "the role to reset (required): user or admin")
	c.Flags().String("links-out", "", "write the links to this new file (0600) instead of stdout")
	_ = c.MarkFlagRequired("role")
	return c
}
