// Package cli holds what crgate's subcommand groups (`crgate pki`,
// `crgate clients`, …) share on top of Caddy's command registry.
package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Group makes cmd the parent of subs. Without a RunE, cobra prints help and
// exits 0 for any argument, so a typo like "pki isue" would look like
// success to a script; a group instead refuses an unknown subcommand.
func Group(cmd *cobra.Command, subs ...*cobra.Command) {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.Name()
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return fmt.Errorf("unknown subcommand %q for %q (want %s)", args[0], cmd.CommandPath(), strings.Join(names, ", "))
	}
	cmd.AddCommand(subs...)
}
