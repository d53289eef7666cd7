package nodeauth

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/crgate/crgate/internal/certfp"
	"github.com/crgate/crgate/internal/cli"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "clients",
		Short: "Edits and lists the node registry's clients file",
		Long: `
Edits the clients file that the node_registry app loads: each registered
point-of-service node with its certificate fingerprints, scopes and status.
Every edit is validated with the same rules the gateway applies, written
atomically (a running gateway reloads it within its reload_interval), and
keeps fields crgate does not know.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cli.Group(cmd, clientsAddCmd(), clientsStatusCmd("disable", statusDisabled), clientsStatusCmd("enable", statusActive),
				clientsCertCmd("add-cert"), clientsCertCmd("remove-cert"), clientsListCmd())
		},
	})
}

func fileFlag(c *cobra.Command) {
	c.Flags().String("file", "", "the clients file (required)")
	_ = c.MarkFlagRequired("file")
}

func clientsAddCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "add --file F --id ID --name NAME (--cert C | --fingerprint FP)... [--scope S]... [--disabled]",
		Short: "Registers a node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			path, _ := f.GetString("file")
			id, _ := f.GetString("id")
			name, _ := f.GetString("name")
			scopes, _ := f.GetStringSlice("scope")
			disabled, _ := f.GetBool("disabled")
			fps, err := fingerprintsFromFlags(cmd)
			if err != nil {
				return err
			}
			status := statusActive
			if disabled {
				status = statusDisabled
			}
			if scopes == nil {
				scopes = []string{}
			}
			return edit(path, cmd.OutOrStdout(), func(ef *editableFile) (string, error) {
				if ef.index(id) >= 0 {
					return "", fmt.Errorf("node %q is already registered; use add-cert, enable or disable", id)
				}
				var entry []field
				entry = set(entry, "id", id)
				entry = set(entry, "name", name)
				entry = set(entry, "fingerprints", fps)
				entry = set(entry, "scopes", scopes)
				entry = set(entry, "status", status)
				ef.clients = append(ef.clients, entry)
				return fmt.Sprintf("added node %q (%s), status %s\n  fingerprints: %s\n  scopes: %s\n",
					id, name, status, strings.Join(fps, ", "), strings.Join(scopes, " ")), nil
			})
		},
	}
	fileFlag(c)
	c.Flags().String("id", "", "node id (letters, digits, '.', '_', '-')")
	c.Flags().String("name", "", "human-readable node name")
	c.Flags().StringArray("cert", nil, "PEM certificate file of the node (repeatable)")
	c.Flags().StringArray("fingerprint", nil, "SHA-256 certificate fingerprint (repeatable)")
	c.Flags().StringSlice("scope", nil, "scope, e.g. Patient.search (repeatable or comma-separated)")
	c.Flags().Bool("disabled", false, "register the node disabled")
	_ = c.MarkFlagRequired("id")
	_ = c.MarkFlagRequired("name")
	return c
}

func clientsStatusCmd(verb, status string) *cobra.Command {
	c := &cobra.Command{
		Use:   verb + " --file F --id ID",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + "s a node (takes effect on its next request)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("file")
			id, _ := cmd.Flags().GetString("id")
			return edit(path, cmd.OutOrStdout(), func(ef *editableFile) (string, error) {
				i := ef.index(id)
				if i < 0 {
					return "", fmt.Errorf("node %q is not registered", id)
				}
				var old string
				raw, _ := get(ef.clients[i], "status")
				_ = json.Unmarshal(raw, &old)
				if old == status {
					return fmt.Sprintf("node %q is already %s; nothing changed\n", id, status), errUnchanged
				}
				ef.clients[i] = set(ef.clients[i], "status", status)
				return fmt.Sprintf("node %q: status %s -> %s\n", id, old, status), nil
			})
		},
	}
	fileFlag(c)
	c.Flags().String("id", "", "node id")
	_ = c.MarkFlagRequired("id")
	return c
}

func clientsCertCmd(verb string) *cobra.Command {
	adding := verb == "add-cert"
	c := &cobra.Command{
		Use:   verb + " --file F --id ID (--cert C | --fingerprint FP)...",
		Short: map[bool]string{true: "Adds a certificate to a node (rollover)", false: "Removes a certificate from a node"}[adding],
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("file")
			id, _ := cmd.Flags().GetString("id")
			fps, err := fingerprintsFromFlags(cmd)
			if err != nil {
				return err
			}
			return edit(path, cmd.OutOrStdout(), func(ef *editableFile) (string, error) {
				i := ef.index(id)
				if i < 0 {
					return "", fmt.Errorf("node %q is not registered", id)
				}
				have := ef.stringsField(i, "fingerprints")
				var msg strings.Builder
				for _, fp := range fps {
					at := slices.IndexFunc(have, func(h string) bool { p, err := certfp.Parse(h); return err == nil && p.String() == fp })
					switch {
					case adding && at < 0:
						have = append(have, fp)
						fmt.Fprintf(&msg, "node %q: added fingerprint %s\n", id, fp)
					case !adding && at >= 0:
						have = slices.Delete(have, at, at+1)
						fmt.Fprintf(&msg, "node %q: removed fingerprint %s\n", id, fp)
					default:
						return "", fmt.Errorf("node %q: fingerprint %s is %s", id, fp, map[bool]string{true: "already registered", false: "not registered"}[adding])
					}
				}
				if len(have) == 0 {
					return "", fmt.Errorf("node %q would have no certificate left; disable it instead", id)
				}
				ef.clients[i] = set(ef.clients[i], "fingerprints", have)
				return msg.String(), nil
			})
		},
	}
	fileFlag(c)
	c.Flags().String("id", "", "node id")
	c.Flags().StringArray("cert", nil, "PEM certificate file (repeatable)")
	c.Flags().StringArray("fingerprint", nil, "SHA-256 certificate fingerprint (repeatable)")
	_ = c.MarkFlagRequired("id")
	return c
}

func clientsListCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "list --file F [--json]",
		Short: "Lists the registered nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("file")
			asJSON, _ := cmd.Flags().GetBool("json")
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if _, err := parseClients(data); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			var f clientsFile
			if err := json.Unmarshal(data, &f); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(f.Clients)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tCERTS\tNAME\tSCOPES")
			for _, c := range f.Clients {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", c.ID, c.Status, len(c.Fingerprints), c.Name, strings.Join(c.Scopes, " "))
			}
			return tw.Flush()
		},
	}
	fileFlag(c)
	c.Flags().Bool("json", false, "print JSON")
	return c
}

// fingerprintsFromFlags reads --cert files and --fingerprint values into
// fingerprints in the canonical form.
func fingerprintsFromFlags(cmd *cobra.Command) ([]string, error) {
	certs, _ := cmd.Flags().GetStringArray("cert")
	raw, _ := cmd.Flags().GetStringArray("fingerprint")
	var out []string
	for _, path := range certs {
		fp, err := fingerprintOfFile(path, cmd.ErrOrStderr())
		if err != nil {
			return nil, fmt.Errorf("--cert %s: %w", path, err)
		}
		out = append(out, fp)
	}
	for _, s := range raw {
		fp, err := certfp.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("--fingerprint %q: %w", s, err)
		}
		out = append(out, fp.String())
	}
	if len(out) == 0 {
		return nil, errors.New("give at least one --cert or --fingerprint")
	}
	return out, nil
}

func fingerprintOfFile(path string, warn io.Writer) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("no PEM CERTIFICATE block (the first block must be the node's certificate)")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", err
	}
	if len(cert.ExtKeyUsage) > 0 && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny) {
		fmt.Fprintf(warn, "warning: %s has no TLS client authentication usage; handshakes with it will fail chain verification\n", path)
	}
	return certfp.Of(cert.Raw).String(), nil
}

var errUnchanged = errors.New("unchanged")

// edit applies change to the clients file under a lock and writes the
// result atomically; change returns the message to print.
func edit(path string, out io.Writer, change func(*editableFile) (string, error)) error {
	unlock, err := lockDir(path)
	if err != nil {
		return err
	}
	defer unlock()
	ef, err := openEditable(path)
	if err != nil {
		return err
	}
	msg, err := change(ef)
	if errors.Is(err, errUnchanged) {
		_, err = io.WriteString(out, msg)
		return err
	}
	if err != nil {
		return err
	}
	data, err := ef.encode()
	if err != nil {
		return err
	}
	if err := writeAtomic(path, data, ef.mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = io.WriteString(out, msg)
	return err
}
