package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/crgate/crgate/caddymodule/audit/filesink"
	"github.com/crgate/crgate/internal/cli"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "audit",
		Short: "Verifies, searches and exports the file sink's audit trail",
		Long: `
Reads the JSON-lines files the audit.sinks.file sink writes (the active
file and its rotated siblings, in any order):

  verify  checks the hash chain and the keyed checkpoints; exits non-zero
          naming the file and line of every break (altered, deleted or
          inserted lines, truncation, a checkpoint that does not match)
  search  lists the events matching filters, as a table or JSON lines
  export  writes the matching events as one FHIR Bundle
`,
		CobraFunc: func(cmd *cobra.Command) {
			cli.Group(cmd, verifyCmd(), searchCmd(), exportCmd())
		},
	})
}

func verifyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "verify [--key FILE] FILE...",
		Short: "Checks the audit files' hash chain and checkpoints",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			keyFile, _ := cmd.Flags().GetString("key")
			var key []byte
			if keyFile != "" {
				data, err := os.ReadFile(keyFile)
				if err != nil {
					return fmt.Errorf("--key: %w", err)
				}
				if key, err = filesink.ParseKey(data); err != nil {
					return fmt.Errorf("--key %s: %w", keyFile, err)
				}
			}
			rep, err := filesink.Verify(files, key)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, w := range rep.Warnings {
				fmt.Fprintf(out, "warning: %s\n", w)
			}
			for _, p := range rep.Problems {
				fmt.Fprintln(out, p.String())
			}
			if len(rep.Problems) > 0 {
				return fmt.Errorf("audit trail NOT intact: %d problem(s); the first at %s", len(rep.Problems), rep.Problems[0].String())
			}
			fmt.Fprintf(out, "ok: %d file(s), %d event(s), %d checkpoint(s), seq %d..%d\n",
				rep.Files, rep.Events, rep.Checkpoints, rep.FirstSeq, rep.LastSeq)
			return nil
		},
	}
	c.Flags().String("key", "", "the sink's checkpoint_key file, to check the checkpoints' MACs")
	return c
}

// filterFlags adds the search filters to c.
func filterFlags(c *cobra.Command) {
	f := c.Flags()
	f.String("node", "", "events whose agent is this node (id or name)")
	f.String("patient", "", "events naming this patient (id, Patient/id or identifier value)")
	f.String("since", "", "events recorded at or after this time (RFC 3339 or YYYY-MM-DD)")
	f.String("until", "", "events recorded before this time (RFC 3339 or YYYY-MM-DD)")
	f.String("outcome", "", "events with this outcome code (0, 4, 8, 12)")
	f.String("type", "", "events of this type or subtype code (e.g. rest, search-type, read, 110113, ITI-78)")
}

func searchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "search [filters] [--json] FILE...",
		Short: "Lists matching audit events",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			flt, err := filterFromFlags(cmd)
			if err != nil {
				return err
			}
			asJSON, _ := cmd.Flags().GetBool("json")
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			var tw *tabwriter.Writer
			if !asJSON {
				tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "RECORDED\tOUTCOME\tTYPE\tACTION\tNODE\tADDRESS\tWHAT\tID")
			}
			n := 0
			err = eachEvent(files, func(raw json.RawMessage, ev *eventView) error {
				if !flt.match(ev) {
					return nil
				}
				n++
				if asJSON {
					out.Write(raw)
					return out.WriteByte('\n')
				}
				_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Recorded, ev.Outcome, ev.typeLabel(),
					ev.Action, ev.node(), ev.address(), ev.what(), ev.ID)
				return err
			})
			if tw != nil {
				tw.Flush()
				fmt.Fprintf(out, "%d event(s)\n", n)
			}
			return err
		},
	}
	filterFlags(c)
	c.Flags().Bool("json", false, "print the matching AuditEvents as JSON lines")
	return c
}

func exportCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "export [filters] [--bundle searchset|collection] FILE...",
		Short: "Writes matching audit events as a FHIR Bundle",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			flt, err := filterFromFlags(cmd)
			if err != nil {
				return err
			}
			kind, _ := cmd.Flags().GetString("bundle")
			if kind != "searchset" && kind != "collection" {
				return fmt.Errorf("--bundle: want searchset or collection, got %q", kind)
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			fmt.Fprintf(out, `{"resourceType":"Bundle","id":%q,"type":%q,"timestamp":%q,"entry":[`,
				newUUID(), kind, time.Now().UTC().Format(time.RFC3339))
			n := 0
			err = eachEvent(files, func(raw json.RawMessage, ev *eventView) error {
				if !flt.match(ev) {
					return nil
				}
				if n > 0 {
					out.WriteByte(',')
				}
				n++
				fmt.Fprintf(out, `{"fullUrl":"urn:uuid:%s","resource":`, ev.ID)
				out.Write(raw)
				if kind == "searchset" {
					out.WriteString(`,"search":{"mode":"match"}`)
				}
				return out.WriteByte('}')
			})
			if err != nil {
				return err
			}
			out.WriteString("]")
			if kind == "searchset" {
				fmt.Fprintf(out, `,"total":%d`, n)
			}
			out.WriteString("}\n")
			return out.Flush()
		},
	}
	filterFlags(c)
	c.Flags().String("bundle", "searchset", "the Bundle type: searchset or collection")
	return c
}

// eventView is the part of an AuditEvent the filters and the table read.
type eventView struct {
	ID       string `json:"id"`
	Recorded string `json:"recorded"`
	Outcome  string `json:"outcome"`
	Action   string `json:"action"`
	Type     coding `json:"type"`
	Subtype  []coding
	Agent    []struct {
		Who     *reference `json:"who"`
		Network *struct {
			Address string `json:"address"`
		} `json:"network"`
		Requestor bool `json:"requestor"`
	} `json:"agent"`
	Entity []struct {
		What *reference `json:"what"`
	} `json:"entity"`

	recorded time.Time
}

type coding struct {
	Code string `json:"code"`
}

type reference struct {
	Reference  string `json:"reference"`
	Display    string `json:"display"`
	Identifier *struct {
		Value string `json:"value"`
	} `json:"identifier"`
}

func (r *reference) matches(v string) bool {
	if r == nil {
		return false
	}
	return r.Display == v || r.Reference == v || strings.HasSuffix(r.Reference, "/"+v) ||
		(r.Identifier != nil && (r.Identifier.Value == v || strings.HasSuffix(r.Identifier.Value, "|"+v)))
}

func (r *reference) String() string {
	switch {
	case r == nil:
		return ""
	case r.Identifier != nil && r.Identifier.Value != "":
		return r.Identifier.Value
	case r.Reference != "":
		return r.Reference
	}
	return r.Display
}

func (e *eventView) typeLabel() string {
	s := e.Type.Code
	for _, st := range e.Subtype {
		s += "/" + st.Code
	}
	return s
}

// node is the requesting agent's identity (the first agent with one).
func (e *eventView) node() string {
	for _, a := range e.Agent {
		if a.Requestor && a.Who != nil {
			return a.Who.String()
		}
	}
	for _, a := range e.Agent {
		if a.Who != nil {
			return a.Who.String()
		}
	}
	return "-"
}

func (e *eventView) address() string {
	for _, a := range e.Agent {
		if a.Network != nil && a.Network.Address != "" {
			return a.Network.Address
		}
	}
	return "-"
}

func (e *eventView) what() string {
	var parts []string
	for _, en := range e.Entity {
		if s := en.What.String(); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// filter is the search filters.
type filter struct {
	node, patient, outcome, typ string
	since, until                time.Time
}

func filterFromFlags(cmd *cobra.Command) (*filter, error) {
	f := cmd.Flags()
	flt := new(filter)
	flt.node, _ = f.GetString("node")
	flt.patient, _ = f.GetString("patient")
	flt.outcome, _ = f.GetString("outcome")
	flt.typ, _ = f.GetString("type")
	for _, tf := range []struct {
		name string
		dst  *time.Time
	}{{"since", &flt.since}, {"until", &flt.until}} {
		s, _ := f.GetString(tf.name)
		if s == "" {
			continue
		}
		t, err := parseTime(s)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", tf.name, err)
		}
		*tf.dst = t
	}
	switch flt.outcome {
	case "", "0", "4", "8", "12":
	default:
		return nil, fmt.Errorf("--outcome: want 0, 4, 8 or 12, got %q", flt.outcome)
	}
	return flt, nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q (want RFC 3339 or YYYY-MM-DD)", s)
}

func (f *filter) match(e *eventView) bool {
	if f.outcome != "" && e.Outcome != f.outcome {
		return false
	}
	if f.typ != "" {
		ok := e.Type.Code == f.typ
		for _, st := range e.Subtype {
			ok = ok || st.Code == f.typ
		}
		if !ok {
			return false
		}
	}
	if !f.since.IsZero() && e.recorded.Before(f.since) {
		return false
	}
	if !f.until.IsZero() && !e.recorded.Before(f.until) {
		return false
	}
	if f.node != "" {
		ok := false
		for _, a := range e.Agent {
			ok = ok || a.Who.matches(f.node)
		}
		if !ok {
			return false
		}
	}
	if f.patient != "" {
		ok := false
		for _, en := range e.Entity {
			ok = ok || en.What.matches(f.patient) || (en.What != nil && en.What.Reference == "Patient/"+strings.TrimPrefix(f.patient, "Patient/"))
		}
		if !ok {
			return false
		}
	}
	return true
}

// eachEvent calls fn for every event line of the files, in the order
// given, once per event id (redeliveries after a crash are skipped).
func eachEvent(files []string, fn func(json.RawMessage, *eventView) error) error {
	seen := map[string]bool{}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		r := bufio.NewReaderSize(f, 256<<10)
		for n := 1; ; n++ {
			raw, rerr := r.ReadBytes('\n')
			if len(raw) > 0 && raw[len(raw)-1] == '\n' {
				var l filesink.Line
				if err := json.Unmarshal(raw, &l); err != nil {
					f.Close()
					return fmt.Errorf("%s:%d: %w", path, n, err)
				}
				if l.Event != nil {
					var ev eventView
					if err := json.Unmarshal(l.Event, &ev); err != nil {
						f.Close()
						return fmt.Errorf("%s:%d: event: %w", path, n, err)
					}
					if ev.ID == "" || !seen[ev.ID] {
						seen[ev.ID] = true
						ev.recorded, _ = time.Parse(time.RFC3339Nano, ev.Recorded)
						if err := fn(l.Event, &ev); err != nil {
							f.Close()
							return err
						}
					}
				}
			}
			if rerr != nil {
				f.Close()
				if errors.Is(rerr, io.EOF) {
					break
				}
				return rerr
			}
		}
	}
	return nil
}
