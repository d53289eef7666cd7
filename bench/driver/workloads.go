package driver

import "fmt"

// searchPath is the keep-alive workloads' request: a Patient search that
// answers a one-entry searchset Bundle of about 1.3 KB.
const searchPath = "/fhir/Patient?_id=p-0001"

// Workload is one request shape the benchmark drives through every
// configuration.
type Workload struct {
	Name string
	// HTTP2: several streams share each connection (see loadgen's
	// DefaultStreamsPerConn); otherwise each HTTP/1.1 worker holds its own.
	HTTP2 bool
	// Handshake: a new TCP and TLS connection per request.
	Handshake bool
	// Post: the ~1 MB batch Bundle POSTed to the FHIR base.
	Post        bool
	Concurrency int
}

// Workloads are the issue's: keep-alive Patient search at concurrency 1
// and 64 over HTTP/1.1 and HTTP/2, a new handshake per request, and a 1 MB
// Bundle POST.
var Workloads = []Workload{
	{Name: "search-h1-c1", Concurrency: 1},
	{Name: "search-h1-c64", Concurrency: 64},
	{Name: "search-h2-c1", HTTP2: true, Concurrency: 1},
	{Name: "search-h2-c64", HTTP2: true, Concurrency: 64},
	{Name: "handshake-c16", Handshake: true, Concurrency: 16},
	{Name: "post1mb-c4", Post: true, Concurrency: 4},
}

// Headline is the workload the summary lines and the targets speak of.
const Headline = "search-h1-c64"

func workloadByName(name string) (Workload, error) {
	for _, w := range Workloads {
		if w.Name == name {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("unknown workload %q", name)
}

// Config names.
const (
	ConfigDirect     = "direct"
	ConfigCaddy      = "caddy"
	ConfigNginx      = "nginx"
	ConfigCrgate     = "crgate"
	ConfigCrgateSync = "crgate-sync"
	// Opt-in (-configs), to separate the proxy from the modules' cost:
	// plain Caddy's reverse_proxy with the transport tuned as crgate's
	// admin door ships it, and crgate's modules in front of that
	// reverse_proxy instead of registry_proxy.
	ConfigCaddyTuned         = "caddy-tuned"
	ConfigCrgateReverseProxy = "crgate-reverse-proxy"
	// ConfigCrgateNoAudit is crgate's route without the audit handler and
	// app (the handshake_audit listener too): what the audit pipeline
	// costs is crgate ÷ crgate-noaudit in one run.
	ConfigCrgateNoAudit = "crgate-noaudit"
)

// applies reports whether a workload can run against a configuration: the
// simulator speaks plain HTTP/1.1, so going direct there is no HTTP/2 and
// no TLS handshake to measure.
func applies(config string, w Workload) bool {
	if config == ConfigDirect {
		return !w.HTTP2 && !w.Handshake
	}
	return true
}
