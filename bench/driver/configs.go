package driver

import (
	"fmt"
	"path/filepath"
	"strings"
)

// TunedTransport is the body of a reverse_proxy block with the transport
// settings the benchmark tuned (docs/performance.md explains each): the
// admin door's reverse_proxy in configs/Caddyfile carries them, and the
// caddy-tuned and crgate-reverse-proxy configurations measure them. The
// registry door uses registry_proxy, whose defaults are the same choices.
const TunedTransport = `transport http {
	compression off
	keepalive_idle_conns_per_host 256
}`

// pkiPaths are the files a proxy configuration refers to.
type pkiPaths struct {
	dir string
}

func (p pkiPaths) ca() string         { return filepath.Join(p.dir, "ca.crt") }
func (p pkiPaths) crl() string        { return filepath.Join(p.dir, "ca.crl") }
func (p pkiPaths) serverCert() string { return filepath.Join(p.dir, "server.crt") }
func (p pkiPaths) serverKey() string  { return filepath.Join(p.dir, "server.key") }
func (p pkiPaths) clients() string    { return filepath.Join(p.dir, "clients.json") }
func (p pkiPaths) nodeCert() string   { return filepath.Join(p.dir, "clients", benchNode+".crt") }
func (p pkiPaths) nodeKey() string    { return filepath.Join(p.dir, "clients", benchNode+".key") }

// caddyParams is what one Caddy-based proxy's Caddyfile varies in.
type caddyParams struct {
	pki       pkiPaths
	port      int
	adminPort int
	upstream  string
	// crgate puts crgate's modules in the route; tuned gives
	// reverse_proxy TunedTransport instead of Caddy's defaults;
	// registryProxy forwards with crgate's registry_proxy instead of
	// reverse_proxy, as the repository's Caddyfiles do.
	crgate        bool
	tuned         bool
	registryProxy bool
	// The modules other branches add, each put in when the binary has it.
	fhirGuard      bool
	fhirOutcome    bool
	handshakeAudit bool
	// audit is "" (no audit handler), "async" or "sync".
	audit    string
	auditDir string
}

// FHIRGuard is fhir_guard as the repository's Caddyfile sets it up: every
// FHIR base OpenCR installs use, all three deny profiles, and a max_body
// the POST workload's Bundle fits in.
const FHIRGuard = `fhir_guard {
	base /fhir /hapi/fhir /hapi-fhir-jpaserver/fhir /baseR4
	profile opencr hapi elasticsearch
	max_body 1MiB
}`

// caddyfile writes a proxy's configuration. Both shapes share the global
// options, the listener and its TLS settings, so the difference measured
// is crgate's modules and the transport tuning, nothing else. Both verify
// the client's chain to the same CA: plain Caddy in crypto/tls
// (require_and_verify, trust_pool), crgate in its node registry (ca, with
// mode require), as the repository's Caddyfiles do.
func caddyfile(p caddyParams) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tauto_https off\n", p.adminPort)
	b.WriteString("\tservers {\n\t\tprotocols h1 h2\n\t\tstrict_sni_host on\n")
	if p.crgate && p.handshakeAudit {
		b.WriteString("\t\tlistener_wrappers {\n\t\t\thandshake_audit\n\t\t}\n")
	}
	b.WriteString("\t}\n")
	if p.crgate {
		fmt.Fprintf(&b, "\tnode_registry {\n\t\tclients %s\n\t\tcrl %s\n\t\tca %s\n\t}\n", p.pki.clients(), p.pki.crl(), p.pki.ca())
		if p.audit != "" {
			fmt.Fprintf(&b, "\taudit {\n\t\tspool %s\n\t\tdurability %s\n\t\tsite crgate-bench\n", filepath.Join(p.auditDir, "spool"), p.audit)
			fmt.Fprintf(&b, "\t\tsink file %s {\n\t\t\tcheckpoint_key %s\n\t\t}\n\t}\n",
				filepath.Join(p.auditDir, "audit.jsonl"), filepath.Join(p.auditDir, "checkpoint.key"))
		}
	}
	b.WriteString("}\n\n")
	fmt.Fprintf(&b, "https://:%d {\n", p.port)
	fmt.Fprintf(&b, "\ttls %s %s {\n\t\tprotocols tls1.2 tls1.3\n", p.pki.serverCert(), p.pki.serverKey())
	if p.crgate {
		// As the repository's Caddyfiles: the node registry verifies the
		// chain against its ca (once per certificate), crypto/tls only
		// asks for the certificate and checks the client holds its key.
		b.WriteString("\t\tclient_auth {\n\t\t\tmode require\n\t\t\tverifier node_registry\n")
	} else {
		fmt.Fprintf(&b, "\t\tclient_auth {\n\t\t\tmode require_and_verify\n\t\t\ttrust_pool file %s\n", p.pki.ca())
	}
	b.WriteString("\t\t}\n\t}\n")
	// An explicit route: the order is the design's (audit outermost), not
	// whatever the directive order would make of it.
	b.WriteString("\troute {\n")
	if p.crgate {
		if p.audit != "" {
			b.WriteString("\t\taudit\n")
		}
		b.WriteString("\t\tnode_auth\n")
		if p.fhirGuard {
			b.WriteString(indent(FHIRGuard, "\t\t") + "\n")
		}
	}
	switch {
	case p.registryProxy:
		fmt.Fprintf(&b, "\t\tregistry_proxy %s\n", p.upstream)
	case p.tuned:
		fmt.Fprintf(&b, "\t\treverse_proxy %s {\n%s\n\t\t}\n", p.upstream, indent(TunedTransport, "\t\t\t"))
	default:
		fmt.Fprintf(&b, "\t\treverse_proxy %s\n", p.upstream)
	}
	b.WriteString("\t}\n")
	if p.crgate && p.fhirOutcome {
		b.WriteString("\thandle_errors {\n\t\tfhir_outcome\n\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// nginxParams is what the nginx configuration varies in.
type nginxParams struct {
	pki      pkiPaths
	port     int
	upstream string
	dir      string // prefix: pid, logs, temp paths
}

// nginxConf is nginx from Debian set up as an operator in front of OpenCR
// would: one worker (the proxy gets one core, as Caddy does), client
// certificates required and verified against the same CA and CRL,
// session tickets off (Caddy turns them off with client authentication),
// a keep-alive pool to the upstream, no access log (Caddy logs no access
// either), request and response streamed rather than spooled to disk,
// and the per-connection request limits raised so neither side recycles
// its keep-alive connections every 1000 requests.
func nginxConf(p nginxParams) string {
	tmp := func(name string) string { return filepath.Join(p.dir, name) }
	return fmt.Sprintf(`worker_processes 1;
pid %[1]s;
error_log %[2]s warn;

events {
	worker_connections 4096;
}

http {
	access_log off;
	client_body_temp_path %[3]s;
	proxy_temp_path %[4]s;
	fastcgi_temp_path %[5]s;
	uwsgi_temp_path %[6]s;
	scgi_temp_path %[7]s;

	upstream registry {
		server %[8]s;
		keepalive 128;
		keepalive_requests 1000000;
		keepalive_timeout 120s;
	}

	server {
		listen 127.0.0.1:%[9]d ssl http2;
		server_name localhost;

		ssl_certificate %[10]s;
		ssl_certificate_key %[11]s;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_client_certificate %[12]s;
		ssl_verify_client on;
		ssl_crl %[13]s;
		ssl_session_tickets off;

		keepalive_requests 1000000;
		keepalive_timeout 120s;
		client_max_body_size 16m;

		location / {
			proxy_pass http://registry;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $http_host;
			proxy_set_header X-Forwarded-For $remote_addr;
			proxy_set_header X-Forwarded-Proto $scheme;
			proxy_request_buffering off;
			proxy_buffering off;
		}
	}
}
`, tmp("nginx.pid"), tmp("error.log"), tmp("client_body"), tmp("proxy"), tmp("fastcgi"), tmp("uwsgi"), tmp("scgi"),
		p.upstream, p.port, p.pki.serverCert(), p.pki.serverKey(), p.pki.ca(), p.pki.crl())
}
