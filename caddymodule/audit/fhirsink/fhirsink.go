// Package fhirsink is the audit.sinks.fhir module: it delivers audit events
// to a FHIR R4 server as `batch` Bundles of AuditEvents, one PUT by id per
// entry (so a redelivered event updates itself instead of duplicating),
// and honours the server's per-entry answers.
package fhirsink

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/deadletter"
	"github.com/crgate/crgate/internal/tlsfiles"
)

func init() {
	caddy.RegisterModule(Sink{})
}

// Sink is the audit.sinks.fhir module.
type Sink struct {
	// URL is the FHIR server's base URL (e.g. https://audit.example/fhir);
	// Bundles are POSTed to it. Required. https, or http to a loopback
	// address only (an audit trail names patients and nodes: it never
	// crosses a network in clear text). No user info, query or fragment.
	URL string `json:"url,omitempty"`

	// TLSCertFile and TLSKeyFile are the client certificate and key
	// presented to the server (mutual TLS). Default: none.
	TLSCertFile string `json:"tls_cert,omitempty"`
	TLSKeyFile  string `json:"tls_key,omitempty"`
	// CAFile holds the CA certificates the server's certificate must chain
	// to. Default: the system roots. Verification is never disabled.
	CAFile string `json:"ca,omitempty"`
	// ServerName is the name the server's certificate must carry. Default:
	// the URL's host.
	ServerName string `json:"server_name,omitempty"`

	// BasicUser, with BasicPasswordFile or BasicPassword, sends HTTP Basic
	// credentials. BasicPassword must be an environment placeholder such as
	// {env.FHIR_AUDIT_PASSWORD}: a literal secret in the config is refused,
	// because configs are logged, shown by the admin API and committed.
	// The password file's trailing newline is ignored. Default: no Basic
	// authentication.
	BasicUser         string `json:"basic_user,omitempty"`
	BasicPasswordFile string `json:"basic_password_file,omitempty"`
	BasicPassword     string `json:"basic_password,omitempty"`

	// BearerTokenFile or BearerToken (an environment placeholder, as for
	// BasicPassword) sends `Authorization: Bearer <token>`. Exclusive with
	// Basic. Default: none.
	BearerTokenFile string `json:"bearer_token_file,omitempty"`
	BearerToken     string `json:"bearer_token,omitempty"`

	// Method is how each entry writes its event: "put" (the default) is
	// PUT AuditEvent/<event id>, an update-as-create that makes a
	// redelivery overwrite instead of duplicate; the server must accept
	// client-assigned ids. "post" is a plain create for servers that do
	// not: the server assigns the id, and a redelivery (at-least-once, after
	// a crash or a lost answer) stores the event again.
	Method string `json:"method,omitempty"`

	// Timeout bounds one Bundle's whole exchange (connect, TLS, request,
	// response). Default: 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// BatchSize is the most AuditEvents per Bundle. Default: 100; at most
	// 1000.
	BatchSize int `json:"batch_size,omitempty"`

	// MaxBundleBytes caps a Bundle's size in bytes; a Bundle is cut before
	// an event that would exceed it. A single event larger than this is
	// dead-lettered (it could never be sent). Default: 4 MiB; at least
	// 64 KiB.
	MaxBundleBytes int `json:"max_bundle_bytes,omitempty"`

	// DeadLetterFile receives (JSON lines, 0600, fsynced) every event the
	// server refuses as invalid (entry status 400 or 422, or 413 alone),
	// so it neither blocks the queue nor is lost. Default: a file under
	// Caddy's data directory named for this URL.
	DeadLetterFile string `json:"dead_letter,omitempty"`

	client  *http.Client
	base    string
	auth    string // Authorization header value, or ""
	dead    *deadletter.Writer
	logger  *zap.Logger
	limit   *atomic.Int64 // current events per Bundle, shrunk after a 413
	cleanup func()
}

// Entry methods.
const (
	MethodPut  = "put"
	MethodPost = "post"
)

const (
	defaultTimeout        = 30 * time.Second
	defaultBatchSize      = 100
	maxBatchSize          = 1000
	defaultMaxBundleBytes = 4 << 20
	minMaxBundleBytes     = 64 << 10
)

// CaddyModule returns the Caddy module information.
func (Sink) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "audit.sinks.fhir",
		New: func() caddy.Module { return new(Sink) },
	}
}

// Provision resolves credentials, loads the TLS files and opens the
// dead-letter file; any error refuses the config.
func (s *Sink) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	if s.Timeout == 0 {
		s.Timeout = caddy.Duration(defaultTimeout)
	}
	if s.BatchSize == 0 {
		s.BatchSize = defaultBatchSize
	}
	if s.MaxBundleBytes == 0 {
		s.MaxBundleBytes = defaultMaxBundleBytes
	}
	if s.Method == "" {
		s.Method = MethodPut
	}
	s.limit = new(atomic.Int64)
	s.limit.Store(int64(s.BatchSize))
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if err := s.checkURL(); err != nil {
		return err
	}
	s.base = strings.TrimRight(s.URL, "/")
	auth, err := s.authorization()
	if err != nil {
		return err
	}
	s.auth = auth
	tlsCfg, err := tlsfiles.Files{CertFile: s.TLSCertFile, KeyFile: s.TLSKeyFile, CAFile: s.CAFile, ServerName: s.ServerName}.Config()
	if err != nil {
		return err
	}
	tr := &http.Transport{
		// Audit traffic goes straight to the configured server: a proxy
		// from the environment would be a second party seeing it.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: time.Duration(s.Timeout), KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: time.Duration(s.Timeout),
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        2,
		IdleConnTimeout:     90 * time.Second,
	}
	s.client = &http.Client{
		Transport: tr,
		Timeout:   time.Duration(s.Timeout),
		// A redirect would resend credentials and audit data to wherever
		// the server points; a 3xx is an error to fix in the config.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.cleanup = tr.CloseIdleConnections
	path := s.DeadLetterFile
	if path == "" {
		sum := sha256.Sum256([]byte(s.base))
		path = deadletter.DefaultPath("fhir", hex.EncodeToString(sum[:6]))
	}
	if s.dead, err = deadletter.New(path); err != nil {
		return fmt.Errorf("dead_letter: %w", err)
	}
	return nil
}

// Validate checks the configuration's invariants.
func (s *Sink) Validate() error {
	if err := s.checkURL(); err != nil {
		return err
	}
	if s.BatchSize < 1 || s.BatchSize > maxBatchSize {
		return fmt.Errorf("batch_size: %d is outside 1..%d", s.BatchSize, maxBatchSize)
	}
	if s.MaxBundleBytes < minMaxBundleBytes {
		return fmt.Errorf("max_bundle_bytes: %d is below the %d minimum", s.MaxBundleBytes, minMaxBundleBytes)
	}
	if s.Method != MethodPut && s.Method != MethodPost {
		return fmt.Errorf("method: %q: want put or post", s.Method)
	}
	if s.Timeout <= 0 {
		return fmt.Errorf("timeout: must be positive, got %s", time.Duration(s.Timeout))
	}
	return nil
}

// Cleanup closes idle connections to the server.
func (s *Sink) Cleanup() error {
	if s.cleanup != nil {
		s.cleanup()
	}
	return nil
}

// checkURL refuses a base URL that would send audit data in clear text
// over a network, or that embeds credentials.
func (s *Sink) checkURL() error {
	if s.URL == "" {
		return errors.New("url: required: the FHIR server's base URL")
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if u.User != nil {
		return errors.New("url: must not carry user info: use basic_user with basic_password_file")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("url: %q must be a plain base URL without query or fragment", s.URL)
	}
	if u.Host == "" {
		return fmt.Errorf("url: %q has no host", s.URL)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("url: http is allowed only to a loopback address (127.0.0.0/8, ::1, localhost), not %q: use https", u.Hostname())
		}
	default:
		return fmt.Errorf("url: scheme %q: want https (or http to loopback)", u.Scheme)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// envPlaceholder is the only form a secret may take inline.
var envPlaceholder = regexp.MustCompile(`^\{env\.[A-Za-z_][A-Za-z0-9_]*\}$`)

// authorization resolves the configured credentials into an Authorization
// header value.
func (s *Sink) authorization() (string, error) {
	basic := s.BasicUser != "" || s.BasicPasswordFile != "" || s.BasicPassword != ""
	bearer := s.BearerTokenFile != "" || s.BearerToken != ""
	if basic && bearer {
		return "", errors.New("basic_user and bearer_token: choose one authentication")
	}
	switch {
	case basic:
		if s.BasicUser == "" {
			return "", errors.New("basic_user: required with basic_password_file or basic_password")
		}
		if strings.Contains(s.BasicUser, ":") {
			return "", errors.New("basic_user: must not contain ':'")
		}
		pw, err := secret("basic_password", s.BasicPasswordFile, s.BasicPassword)
		if err != nil {
			return "", err
		}
		req, _ := http.NewRequest(http.MethodPost, "http://x", nil)
		req.SetBasicAuth(s.BasicUser, pw)
		return req.Header.Get("Authorization"), nil
	case bearer:
		tok, err := secret("bearer_token", s.BearerTokenFile, s.BearerToken)
		if err != nil {
			return "", err
		}
		return "Bearer " + tok, nil
	}
	return "", nil
}

// secret reads a credential from its file or its environment placeholder.
// A literal value is refused, naming the field; the value never appears in
// an error.
func secret(field, file, inline string) (string, error) {
	var v string
	switch {
	case file != "" && inline != "":
		return "", fmt.Errorf("%s_file and %s: choose one", field, field)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", field, err)
		}
		v = strings.TrimRight(string(b), "\r\n")
	case inline != "":
		if !envPlaceholder.MatchString(inline) {
			return "", fmt.Errorf("%s: must be an environment placeholder like {env.NAME} or given as %s_file; a literal secret in the config is refused", field, field)
		}
		v = caddy.NewReplacer().ReplaceKnown(inline, "")
	default:
		return "", fmt.Errorf("%s_file: required (or %s as {env.NAME})", field, field)
	}
	if v == "" {
		return "", fmt.Errorf("%s: empty", field)
	}
	if strings.ContainsAny(v, "\r\n") {
		return "", fmt.Errorf("%s: contains a line break", field)
	}
	return v, nil
}

// Interface guards
var (
	_ caddy.Provisioner  = (*Sink)(nil)
	_ caddy.Validator    = (*Sink)(nil)
	_ caddy.CleanerUpper = (*Sink)(nil)
)
