package nodeauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/crgate/crgate/internal/gate"
)

// builtinStripped are headers upstreams treat as carrying a client's
// identity: OpenCR in mediator mode trusts x-openhim-clientid, and proxies
// in front of other registries pass the client certificate or user in the
// others. A client must never be able to send them; node_auth removes them
// all and sets its own. A trailing '*' makes a prefix.
var builtinStripped = []string{
	"x-openhim-clientid",
	"x-client-*",
	"x-forwarded-client-cert",
	"x-forwarded-tls-client-cert*",
	"x-ssl-client-*",
	"x-ssl-cert*",
	"ssl-client-*",
	"x-arr-clientcert",
	"x-amzn-mtls-*",
	"x-forwarded-user",
	"x-remote-user",
	"remote-user",
	"x-crgate-*",
}

// Identity headers node_auth sets towards the upstream.
const (
	headerOpenHIMClient = "X-Openhim-Clientid"
	headerNodeID        = "X-Crgate-Node-Id"
	headerNodeName      = "X-Crgate-Node-Name"
	headerNodeFP        = "X-Crgate-Node-Fingerprint"
)

// upstreamHeaders are a node's identity header values, built once per
// registry generation. The slices are shared between requests: Caddy's
// reverse_proxy clones the header before sending, and len==cap makes any
// append copy.
type upstreamHeaders struct {
	id, name []string
}

func newUpstreamHeaders(n *gate.Node) upstreamHeaders {
	return upstreamHeaders{id: []string{n.ID}, name: []string{n.Name}}
}

func (u upstreamHeaders) set(h http.Header, fp []string) {
	h[headerOpenHIMClient] = u.id
	h[headerNodeID] = u.id
	h[headerNodeName] = u.name
	h[headerNodeFP] = fp
}

// headerPattern matches header names ignoring case and treating '_' as '-':
// CGI-style servers (and the frameworks that read headers through them)
// see X_OPENHIM_CLIENTID and X-Openhim-Clientid as one header.
type headerPattern struct {
	name   string // lower-case, '-' separators
	prefix bool
}

func parseHeaderPattern(s string) (headerPattern, error) {
	p := headerPattern{name: strings.ToLower(strings.ReplaceAll(s, "_", "-"))}
	if strings.HasSuffix(p.name, "*") {
		p.prefix = true
		p.name = strings.TrimSuffix(p.name, "*")
	}
	if p.name == "" {
		return p, errors.New("empty header name")
	}
	for i := 0; i < len(p.name); i++ {
		if !isTokenChar(p.name[i]) {
			return p, fmt.Errorf("%q is not a header name (a trailing * makes a prefix)", s)
		}
	}
	return p, nil
}

// isTokenChar follows RFC 9110's tchar.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (p headerPattern) matches(name string) bool {
	if len(name) < len(p.name) || !p.prefix && len(name) != len(p.name) {
		return false
	}
	for i := 0; i < len(p.name); i++ {
		if normalizeHeaderByte(name[i]) != p.name[i] {
			return false
		}
	}
	return true
}

func normalizeHeaderByte(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c + ('a' - 'A')
	case c == '_':
		return '-'
	}
	return c
}

// stripper removes every header matching its patterns.
type stripper []headerPattern

func newStripper(extra []string) (stripper, error) {
	s := make(stripper, 0, len(builtinStripped)+len(extra))
	for _, name := range builtinStripped {
		p, err := parseHeaderPattern(name)
		if err != nil {
			return nil, err
		}
		s = append(s, p)
	}
	for i, name := range extra {
		p, err := parseHeaderPattern(name)
		if err != nil {
			return nil, fmt.Errorf("strip_headers[%d]: %w", i, err)
		}
		s = append(s, p)
	}
	return s, nil
}

// strip removes matching headers from h; deleting while ranging over a
// map is safe in Go.
func (s stripper) strip(h http.Header) {
	for name := range h {
		for _, p := range s {
			if p.matches(name) {
				delete(h, name)
				break
			}
		}
	}
}

// stripConnection removes from the Connection header every token that
// names a header the stripper guards. A proxy drops the headers a client
// lists there as hop-by-hop (RFC 9110 §7.6.1), so `Connection:
// X-Openhim-Clientid` would otherwise make the proxy remove the identity
// node_auth sets, and the upstream would see a request from nobody.
func (s stripper) stripConnection(h http.Header) {
	for i, v := range h["Connection"] {
		if !s.namesAny(v) {
			continue
		}
		kept := make([]string, 0, 2)
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !s.matchesAny(tok) {
				kept = append(kept, tok)
			}
		}
		h["Connection"][i] = strings.Join(kept, ", ")
	}
}

// namesAny reports whether a Connection value lists a guarded header; it
// allocates nothing, as the common values (keep-alive, close) pass here.
func (s stripper) namesAny(v string) bool {
	for tok := range strings.SplitSeq(v, ",") {
		if s.matchesAny(strings.TrimSpace(tok)) {
			return true
		}
	}
	return false
}

func (s stripper) matchesAny(name string) bool {
	for _, p := range s {
		if p.matches(name) {
			return true
		}
	}
	return false
}
