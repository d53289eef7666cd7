package nodeauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crgate/crgate/internal/certfp"
	"github.com/crgate/crgate/internal/gate"
	"github.com/crgate/crgate/internal/scope"
)

// clientsFile is the on-disk form of the node registry:
//
//	{
//	  "clients": [
//	    {
//	      "id": "dhis2",
//	      "name": "DHIS2 Tracker",
//	      "fingerprints": ["AB:CD:…"],
//	      "scopes": ["Patient.search", "Patient.read"],
//	      "status": "active"
//	    }
//	  ]
//	}
//
// Unknown fields are allowed (and kept by `crgate clients`), so deployments
// can annotate entries; the loader logs them in case one is a typo.
type clientsFile struct {
	Clients []clientEntry `json:"clients"`
}

type clientEntry struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Fingerprints []string `json:"fingerprints"`
	Scopes       []string `json:"scopes"`
	Status       string   `json:"status"`
}

const (
	statusActive   = "active"
	statusDisabled = "disabled"
)

// idPattern keeps ids safe to put in headers, placeholders, metrics labels
// and file names.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// registeredNode is a node as the registry holds it.
type registeredNode struct {
	node   *gate.Node // shared template; Fingerprint is set per certificate
	active bool
	// byCert holds what a request publishes per certificate, built once so
	// the request path does not allocate.
	byCert map[certfp.Fingerprint]*published
	// upstream holds the identity header values node_auth sends, built once.
	upstream upstreamHeaders
	// scopes is ScopeList joined for the placeholder.
	scopes string
	// requests counts the node's authenticated requests.
	requests prometheus.Counter
}

// published is one registered certificate's identity, immutable.
type published struct {
	node     *gate.Node
	fpHeader []string
	// placeholders are the values node_auth sets, in placeholderKeys'
	// order, boxed once: an interface holding a string allocates when made.
	placeholders [len(placeholderKeys)]any
}

// placeholderKeys are the placeholders node_auth sets for a request.
var placeholderKeys = [...]string{
	"http.auth.node.id",
	"http.auth.node.name",
	"http.auth.node.scopes",
	"http.auth.node.fingerprint",
	"http.auth.user.id", // the node id, for Caddy's access log
}

// nodeTable is a parsed, validated clients file.
type nodeTable struct {
	byFingerprint map[certfp.Fingerprint]*registeredNode
	byID          map[string]*registeredNode
	// unknownFields lists "clients[i].field" paths not in the schema.
	unknownFields []string
}

// parseClients parses and validates a clients file. Every error names the
// offending field, e.g. `clients[2] (id "x"): fingerprints[0]: …`.
func parseClients(data []byte) (*nodeTable, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var f clientsFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decoding JSON: unexpected data after the top-level object")
	}
	if f.Clients == nil {
		return nil, errors.New(`"clients": required (a list, possibly empty)`)
	}
	t := &nodeTable{
		byFingerprint: make(map[certfp.Fingerprint]*registeredNode),
		byID:          make(map[string]*registeredNode, len(f.Clients)),
	}
	for i, c := range f.Clients {
		rn, fps, err := validateEntry(c)
		if err != nil {
			return nil, fmt.Errorf("clients[%d]%s: %w", i, idSuffix(c.ID), err)
		}
		if _, dup := t.byID[c.ID]; dup {
			return nil, fmt.Errorf("clients[%d]%s: id: duplicate id", i, idSuffix(c.ID))
		}
		t.byID[c.ID] = rn
		for j, fp := range fps {
			if other, dup := t.byFingerprint[fp]; dup {
				return nil, fmt.Errorf("clients[%d]%s: fingerprints[%d]: already registered to node %q", i, idSuffix(c.ID), j, other.node.ID)
			}
			t.byFingerprint[fp] = rn
		}
	}
	unknown, err := unknownClientFields(data)
	if err != nil {
		return nil, err
	}
	t.unknownFields = unknown
	return t, nil
}

func idSuffix(id string) string {
	if id == "" {
		return ""
	}
	return fmt.Sprintf(" (id %q)", id)
}

func validateEntry(c clientEntry) (*registeredNode, []certfp.Fingerprint, error) {
	if !idPattern.MatchString(c.ID) {
		return nil, nil, fmt.Errorf("id: %q must match %s", c.ID, idPattern)
	}
	if err := validateName(c.Name); err != nil {
		return nil, nil, fmt.Errorf("name: %w", err)
	}
	var active bool
	switch c.Status {
	case statusActive:
		active = true
	case statusDisabled:
	case "":
		return nil, nil, fmt.Errorf("status: required (%q or %q)", statusActive, statusDisabled)
	default:
		return nil, nil, fmt.Errorf("status: %q is not %q or %q", c.Status, statusActive, statusDisabled)
	}
	if len(c.Fingerprints) == 0 {
		return nil, nil, errors.New("fingerprints: at least one SHA-256 certificate fingerprint is required")
	}
	fps := make([]certfp.Fingerprint, 0, len(c.Fingerprints))
	for j, raw := range c.Fingerprints {
		fp, err := certfp.Parse(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("fingerprints[%d]: %w", j, err)
		}
		if slices.Contains(fps, fp) {
			return nil, nil, fmt.Errorf("fingerprints[%d]: listed twice", j)
		}
		fps = append(fps, fp)
	}
	scopes, err := scope.ParseSet(c.Scopes)
	if err != nil {
		return nil, nil, fmt.Errorf("scopes: %w", err)
	}
	tmpl := &gate.Node{ID: c.ID, Name: c.Name, Scopes: scopes, ScopeList: slices.Clone(c.Scopes)}
	rn := &registeredNode{
		node:   tmpl,
		active: active,
		byCert: make(map[certfp.Fingerprint]*published, len(fps)),
		scopes: strings.Join(c.Scopes, " "),
	}
	for _, fp := range fps {
		n := *tmpl
		n.Fingerprint, n.FingerprintText = fp, fp.String()
		rn.byCert[fp] = &published{
			node:         &n,
			fpHeader:     []string{n.FingerprintText},
			placeholders: [...]any{n.ID, n.Name, rn.scopes, n.FingerprintText, n.ID},
		}
	}
	rn.upstream = newUpstreamHeaders(tmpl)
	rn.requests = nodeRequests.WithLabelValues(c.ID)
	return rn, fps, nil
}

// validateName keeps names safe to send as a header value: printable text
// only, so a registry entry cannot inject headers upstream.
func validateName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("required")
	}
	if len(name) > 256 {
		return errors.New("longer than 256 bytes")
	}
	for _, r := range name {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return fmt.Errorf("%q contains a control or invalid character", name)
		}
	}
	return nil
}

var knownClientFields = map[string]bool{"id": true, "name": true, "fingerprints": true, "scopes": true, "status": true}

// unknownClientFields lists fields of client entries outside the schema.
func unknownClientFields(data []byte) ([]string, error) {
	var raw struct {
		Clients []map[string]json.RawMessage `json:"clients"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	var out []string
	for i, c := range raw.Clients {
		for k := range c {
			if knownClientFields[k] {
				continue
			}
			// encoding/json matches names case-insensitively; a "Status"
			// beside "status" would silently override it.
			for known := range knownClientFields {
				if strings.EqualFold(k, known) {
					return nil, fmt.Errorf("clients[%d].%s: field names are case-sensitive; write %q", i, k, known)
				}
			}
			out = append(out, fmt.Sprintf("clients[%d].%s", i, k))
		}
	}
	slices.Sort(out)
	return out, nil
}
