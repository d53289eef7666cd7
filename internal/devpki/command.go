package devpki

import (
	"fmt"
	"io"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/crgate/crgate/internal/cli"
)

// This file is the command-line glue: flags in, library call, output out.
// The output lines are parsed by scripts and the e2e suite; change them only
// together with those.

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "pki",
		Usage: "init|issue|revoke --dir <dir> [flags]",
		Short: "Makes a development PKI: dev CA, server and client certificates, CRL",
		Long: `
Makes the certificates a crgate gateway and its point-of-service nodes need in
development and tests. NOT for production: production certificates come from
the deployment's own CA.

  crgate pki init   --dir <dir>   dev CA, server certificate, empty CRL
  crgate pki issue  --dir <dir> --name <client>   client certificate
  crgate pki revoke --dir <dir> --name <client>   add a client to the CRL

Files in <dir>: ca.crt, ca.key, ca.crl, server.crt, server.key, and
clients/<name>.crt, clients/<name>.key (clients/<name>.p12 with --p12).
Private keys are written 0600, certificates and the CRL 0644.
`,
		CobraFunc: addSubcommands,
	})
}

// addSubcommands turns the registered `pki` command into the parent of
// init, issue and revoke.
func addSubcommands(cmd *cobra.Command) {
	cli.Group(cmd, initCommand(), issueCommand(), revokeCommand())
}

func initCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init --dir <dir> [--host <name-or-ip>]... [--days <n>] [--key-type <type>] [--force]",
		Short: "Makes a dev CA, a server certificate and an empty CRL",
		Long: `
Makes a dev CA (ca.crt, ca.key, valid 10 years), a TLS server certificate
signed by it (server.crt, server.key) and an empty CRL (ca.crl), in --dir,
which is created (0700) if missing. Prints each file written, one per line.

The server certificate is valid for localhost, 127.0.0.1 and ::1, plus each
--host: an IP address becomes an IP SAN, anything else a DNS SAN.

If --dir already holds ca.key, init refuses and writes nothing, unless --force
is given: a new CA means every client certificate issued so far stops
verifying.
`,
		Args: cobra.NoArgs,
		RunE: withOutput(runInit),
	}
	f := cmd.Flags()
	f.String("dir", "", "PKI directory (required)")
	f.StringArray("host", nil, "extra server certificate host name or IP address (repeatable)")
	f.Int("days", DefaultServerDays, "server certificate validity in days")
	f.String("key-type", string(DefaultKeyType), "key type for the CA and server keys: "+keyTypeList())
	f.Bool("force", false, "overwrite an existing CA")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func issueCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "issue --dir <dir> --name <name> [--days <n>] [--backdate <days>] [--p12] [--p12-password-file <file>] [--force]",
		Short: "Issues a client certificate signed by the dev CA",
		Long: `
Issues a client certificate (ExtKeyUsage clientAuth only, subject CN <name>)
signed by the CA in --dir, and writes clients/<name>.crt and clients/<name>.key.
<name> is 1-64 letters, digits, '.', '_' or '-', starting with a letter or
digit. Refuses to overwrite an existing clients/<name>.key unless --force.

--backdate moves the validity period that many days into the past, for
testing expiry handling: "--days 1 --backdate 2" gives a certificate that
has already expired.

--p12 also writes clients/<name>.p12 (key, certificate and CA certificate).
Its password is the first line of --p12-password-file or, without that flag,
a random one written to clients/<name>.p12.pass.

Prints the files written and the certificate's SHA-256 fingerprint:
  issued client certificate "<name>"
  certificate: <dir>/clients/<name>.crt
  key: <dir>/clients/<name>.key
  fingerprint: AB:CD:...
`,
		Args: cobra.NoArgs,
		RunE: withOutput(runIssue),
	}
	f := cmd.Flags()
	f.String("dir", "", "PKI directory made by pki init (required)")
	f.String("name", "", "client name: certificate CN and file name (required)")
	f.Int("days", DefaultClientDays, "validity in days")
	f.Int("backdate", 0, "move the validity period this many days into the past (for testing expiry handling)")
	f.String("key-type", string(DefaultKeyType), "key type for the client key: "+keyTypeList())
	f.Bool("p12", false, "also write a PKCS#12 bundle clients/<name>.p12")
	f.String("p12-password-file", "", "file whose first line is the PKCS#12 password (default: generate one)")
	f.Bool("force", false, "overwrite an existing client key")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func revokeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke --dir <dir> --name <name>",
		Short: "Adds a client certificate to the dev CA's CRL",
		Long: `
Adds the serial number of clients/<name>.crt to ca.crl in --dir, keeping the
certificates already listed, and re-signs the CRL with the next CRL number
(valid 30 days). The existing CRL must verify against the CA. Revoking a
certificate that is already listed changes nothing.
`,
		Args: cobra.NoArgs,
		RunE: withOutput(runRevoke),
	}
	f := cmd.Flags()
	f.String("dir", "", "PKI directory made by pki init (required)")
	f.String("name", "", "client name (required)")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// withOutput adapts a run function to cobra the way Caddy's own commands
// are (caddycmd.WrapCommandFuncForCobra: errors through Caddy's logger,
// non-zero exit), and hands it the command's stdout so tests can capture it.
func withOutput(run func(caddycmd.Flags, io.Writer) (int, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return caddycmd.WrapCommandFuncForCobra(func(fs caddycmd.Flags) (int, error) {
			return run(fs, cmd.OutOrStdout())
		})(cmd, args)
	}
}

func runInit(fs caddycmd.Flags, w io.Writer) (int, error) {
	var opts InitOptions
	var err error
	if opts.Dir, err = fs.GetString("dir"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if opts.Hosts, err = fs.GetStringArray("host"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if opts.Days, err = positiveInt(fs, "days"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if opts.KeyType, err = keyTypeFlag(fs); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if opts.Force, err = fs.GetBool("force"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	res, err := Init(opts)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return finish(w, formatInit(res))
}

func runIssue(fs caddycmd.Flags, w io.Writer) (int, error) {
	var opts IssueOptions
	var err error
	if opts.Dir, err = fs.GetString("dir"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if opts.Name, err = fs.GetString("name"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if opts.Days, err = positiveInt(fs, "days"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if opts.Backdate, err = fs.GetInt("backdate"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if opts.KeyType, err = keyTypeFlag(fs); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if opts.P12, err = fs.GetBool("p12"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if opts.Force, err = fs.GetBool("force"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	passFile, err := fs.GetString("p12-password-file")
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if passFile != "" {
		// Silently ignoring the flag would leave the user thinking a
		// bundle was written with their password.
		if !opts.P12 {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("--p12-password-file %s: needs --p12", passFile)
		}
		if opts.P12Password, err = readPasswordFile(passFile); err != nil {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("--p12-password-file: %w", err)
		}
	}
	res, err := Issue(opts)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return finish(w, formatIssued(res))
}

func runRevoke(fs caddycmd.Flags, w io.Writer) (int, error) {
	var opts RevokeOptions
	var err error
	if opts.Dir, err = fs.GetString("dir"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if opts.Name, err = fs.GetString("name"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	res, err := Revoke(opts)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return finish(w, formatRevocation(res))
}

// positiveInt reads an int flag that must be at least 1. The library takes
// 0 as "default", so an explicit --days 0 is refused here, not defaulted.
func positiveInt(fs caddycmd.Flags, name string) (int, error) {
	n, err := fs.GetInt(name)
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, fmt.Errorf("--%s must be at least 1, got %d", name, n)
	}
	return n, nil
}

func keyTypeFlag(fs caddycmd.Flags) (KeyType, error) {
	s, err := fs.GetString("key-type")
	if err != nil {
		return "", err
	}
	kt, err := ParseKeyType(s)
	if err != nil {
		return "", fmt.Errorf("--key-type: %w", err)
	}
	return kt, nil
}

// finish writes the output in one go and reports a failed write (a closed
// pipe, a full disk), so a script never mistakes truncated output for
// success.
func finish(w io.Writer, out string) (int, error) {
	if _, err := io.WriteString(w, out); err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("writing output: %w", err)
	}
	return caddy.ExitCodeSuccess, nil
}

// formatInit lists the files written, one path per line.
func formatInit(r *InitResult) string {
	return strings.Join(r.Files, "\n") + "\n"
}

// formatIssued is the output of `pki issue`. Scripts parse the
// "fingerprint: " line.
func formatIssued(r *Issued) string {
	var b strings.Builder
	fmt.Fprintf(&b, "issued client certificate %q\n", r.Name)
	fmt.Fprintf(&b, "certificate: %s\n", r.CertPath)
	fmt.Fprintf(&b, "key: %s\n", r.KeyPath)
	fmt.Fprintf(&b, "fingerprint: %s\n", r.Fingerprint)
	if r.P12Path != "" {
		fmt.Fprintf(&b, "pkcs12: %s\n", r.P12Path)
	}
	if r.P12PassPath != "" {
		fmt.Fprintf(&b, "pkcs12 password: %s (generated)\n", r.P12PassPath)
	}
	for _, path := range r.Removed {
		fmt.Fprintf(&b, "removed stale %s\n", path)
	}
	return b.String()
}

// formatRevocation is the output of `pki revoke`.
func formatRevocation(r *Revocation) string {
	if r.AlreadyRevoked {
		return fmt.Sprintf("%q serial %s is already revoked; %s unchanged, lists %d certificate(s)\n",
			r.Name, formatSerial(r.Serial), r.CRLPath, r.Entries)
	}
	return fmt.Sprintf("revoked %q serial %s; %s now lists %d certificate(s)\n",
		r.Name, formatSerial(r.Serial), r.CRLPath, r.Entries)
}
