// Package syslogsink is the audit.sinks.syslog module: it delivers audit
// events to a syslog collector (an ATNA audit record repository) as RFC
// 5424 messages over mutual TLS (RFC 5425), octet-counted, one message per
// AuditEvent with the event's FHIR JSON as MSG.
package syslogsink

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/deadletter"
	"github.com/crgate/crgate/internal/tlsfiles"
)

func init() {
	caddy.RegisterModule(Sink{})
}

// Sink is the audit.sinks.syslog module.
type Sink struct {
	// Address is the collector's host:port (the Caddyfile also accepts
	// tls://host:port; the port defaults to 6514). Required. Only TLS is
	// spoken: audit messages name patients and nodes.
	Address string `json:"address,omitempty"`

	// TLSCertFile and TLSKeyFile are the client certificate and key the
	// collector authenticates the gateway by (mutual TLS, as ATNA
	// requires). Default: none (only for collectors that do not ask).
	TLSCertFile string `json:"tls_cert,omitempty"`
	TLSKeyFile  string `json:"tls_key,omitempty"`
	// CAFile holds the CA certificates the collector's certificate must
	// chain to. Default: the system roots. Verification is never disabled.
	CAFile string `json:"ca,omitempty"`
	// ServerName is the name the collector's certificate must carry.
	// Default: the address's host.
	ServerName string `json:"server_name,omitempty"`

	// Facility (0–23) and Severity (0–7) make the PRI. Default: 10
	// (security/authorization) and 5 (notice), i.e. <85>, as IHE ATNA asks.
	Facility *int `json:"facility,omitempty"`
	Severity *int `json:"severity,omitempty"`

	// Hostname, AppName, ProcID and MsgID fill the RFC 5424 header (each
	// printable US-ASCII without spaces). Defaults: the machine's host
	// name, "crgate", the process id, and "AuditEvent": the MSG is a FHIR
	// AuditEvent in JSON, not the DICOM XML that IHE's "IHE+RFC-3881"
	// announces, so that value is not claimed.
	Hostname string `json:"hostname,omitempty"`
	AppName  string `json:"app_name,omitempty"`
	ProcID   string `json:"procid,omitempty"`
	MsgID    string `json:"msgid,omitempty"`

	// BOM prefixes MSG with the UTF-8 byte order mark, which RFC 5424
	// uses to declare MSG as UTF-8. Default: off (many collectors store
	// the BOM as part of the text).
	BOM bool `json:"bom,omitempty"`

	// MaxMessageSize is the largest syslog message (header and MSG, in
	// octets, without the length prefix) sent; the collector must accept
	// it. A larger event is never truncated (that would corrupt its JSON)
	// but dead-lettered. Default: 32768; 2048 (RFC 5425's minimum) to
	// 1048576.
	MaxMessageSize int `json:"max_message_size,omitempty"`

	// DialTimeout bounds connecting and the TLS handshake; WriteTimeout
	// one message's write. Defaults: 10s and 30s.
	DialTimeout  caddy.Duration `json:"dial_timeout,omitempty"`
	WriteTimeout caddy.Duration `json:"write_timeout,omitempty"`

	// DeadLetterFile receives (JSON lines, 0600, fsynced) every event too
	// large to send. Default: a file under Caddy's data directory named
	// for this address.
	DeadLetterFile string `json:"dead_letter,omitempty"`

	tlsConfig *tls.Config
	header    []byte // "<PRI>1 " — the timestamp follows
	tail      []byte // " HOSTNAME APP-NAME PROCID MSGID - " [BOM]
	dead      *deadletter.Writer
	logger    *zap.Logger

	mu   *sync.Mutex // one Deliver at a time; guards conn
	conn *conn
}

const (
	defaultPort           = "6514"
	defaultFacility       = 10
	defaultSeverity       = 5
	defaultAppName        = "crgate"
	defaultMsgID          = "AuditEvent"
	defaultMaxMessageSize = 32768
	minMaxMessageSize     = 2048
	maxMaxMessageSize     = 1 << 20
	defaultDialTimeout    = 10 * time.Second
	defaultWriteTimeout   = 30 * time.Second
)

// CaddyModule returns the Caddy module information.
func (Sink) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "audit.sinks.syslog",
		New: func() caddy.Module { return new(Sink) },
	}
}

// Provision fills defaults, loads the TLS files and opens the dead-letter
// file; any error refuses the config.
func (s *Sink) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	s.mu = new(sync.Mutex)
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if s.Facility == nil {
		s.Facility = intPtr(defaultFacility)
	}
	if s.Severity == nil {
		s.Severity = intPtr(defaultSeverity)
	}
	if s.Hostname == "" {
		s.Hostname = localHostname()
	}
	if s.AppName == "" {
		s.AppName = defaultAppName
	}
	if s.ProcID == "" {
		s.ProcID = strconv.Itoa(os.Getpid())
	}
	if s.MsgID == "" {
		s.MsgID = defaultMsgID
	}
	if s.MaxMessageSize == 0 {
		s.MaxMessageSize = defaultMaxMessageSize
	}
	if s.DialTimeout == 0 {
		s.DialTimeout = caddy.Duration(defaultDialTimeout)
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = caddy.Duration(defaultWriteTimeout)
	}
	if err := s.Validate(); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(s.Address)
	serverName := s.ServerName
	if serverName == "" {
		serverName = host
	}
	cfg, err := tlsfiles.Files{CertFile: s.TLSCertFile, KeyFile: s.TLSKeyFile, CAFile: s.CAFile, ServerName: serverName}.Config()
	if err != nil {
		return err
	}
	s.tlsConfig = cfg
	s.header = fmt.Appendf(nil, "<%d>1 ", *s.Facility*8+*s.Severity)
	s.tail = fmt.Appendf(nil, " %s %s %s %s - ", s.Hostname, s.AppName, s.ProcID, s.MsgID)
	if s.BOM {
		s.tail = append(s.tail, 0xEF, 0xBB, 0xBF)
	}
	path := s.DeadLetterFile
	if path == "" {
		sum := sha256.Sum256([]byte(s.Address))
		path = deadletter.DefaultPath("syslog", hex.EncodeToString(sum[:6]))
	}
	if s.dead, err = deadletter.New(path); err != nil {
		return fmt.Errorf("dead_letter: %w", err)
	}
	return nil
}

// Validate checks the configuration's invariants.
func (s *Sink) Validate() error {
	if s.Address == "" {
		return errors.New("address: required: the syslog collector's host:port")
	}
	host, port, err := net.SplitHostPort(s.Address)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("address: %q: want host:port", s.Address)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address: port %q: want 1–65535", port)
	}
	if s.Facility != nil && (*s.Facility < 0 || *s.Facility > 23) {
		return fmt.Errorf("facility: %d is outside 0–23", *s.Facility)
	}
	if s.Severity != nil && (*s.Severity < 0 || *s.Severity > 7) {
		return fmt.Errorf("severity: %d is outside 0–7", *s.Severity)
	}
	for _, f := range []struct {
		name, val string
		max       int
	}{{"hostname", s.Hostname, 255}, {"app_name", s.AppName, 48}, {"procid", s.ProcID, 128}, {"msgid", s.MsgID, 32}} {
		if f.val != "" && !headerField(f.val, f.max) {
			return fmt.Errorf("%s: %q: want 1–%d printable US-ASCII characters without spaces (RFC 5424)", f.name, f.val, f.max)
		}
	}
	if s.MaxMessageSize != 0 && (s.MaxMessageSize < minMaxMessageSize || s.MaxMessageSize > maxMaxMessageSize) {
		return fmt.Errorf("max_message_size: %d is outside %d–%d", s.MaxMessageSize, minMaxMessageSize, maxMaxMessageSize)
	}
	if s.DialTimeout < 0 || s.WriteTimeout < 0 {
		return errors.New("dial_timeout, write_timeout: must be positive")
	}
	return nil
}

// Cleanup closes the connection (with a TLS close_notify).
func (s *Sink) Cleanup() error {
	if s.mu == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop()
	return nil
}

// headerField reports whether v is an RFC 5424 header field: 1..max
// characters of PRINTUSASCII (%d33-126).
func headerField(v string, max int) bool {
	if len(v) == 0 || len(v) > max {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 33 || v[i] > 126 {
			return false
		}
	}
	return true
}

// localHostname is the machine's name as an RFC 5424 HOSTNAME, or "-"
// (NILVALUE) when it has none usable.
func localHostname() string {
	h, err := os.Hostname()
	if err != nil || !headerField(h, 255) {
		return "-"
	}
	return h
}

// normalizeAddress turns the Caddyfile's tls://host[:port] or host[:port]
// into host:port.
func normalizeAddress(a string) (string, error) {
	if scheme, rest, ok := strings.Cut(a, "://"); ok {
		if scheme != "tls" {
			return "", fmt.Errorf("address: scheme %q: only tls:// (RFC 5425) is supported", scheme)
		}
		a = rest
	}
	if _, _, err := net.SplitHostPort(a); err != nil {
		a = net.JoinHostPort(strings.Trim(a, "[]"), defaultPort)
	}
	return a, nil
}

func intPtr(i int) *int { return &i }

// Interface guards
var (
	_ caddy.Provisioner  = (*Sink)(nil)
	_ caddy.Validator    = (*Sink)(nil)
	_ caddy.CleanerUpper = (*Sink)(nil)
)
