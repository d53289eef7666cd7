package testpeer

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Rsyslog is a running rsyslogd (not daemonised) with an RFC 5425 TLS
// listener on loopback that requires a client certificate naming
// ClientName, writing each received message's raw bytes as one line to a
// file.
type Rsyslog struct {
	t      testing.TB
	bin    string
	dir    string
	conf   string
	out    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *syncBuffer
}

// RsyslogOptions shape the receiver.
type RsyslogOptions struct {
	// Driver is rsyslog's TLS network stream driver: "gtls" (GnuTLS, the
	// default) or "ossl" (OpenSSL).
	Driver string
	// MaxMessageSize is rsyslog's maxMessageSize; default 64 KiB.
	MaxMessageSize int
}

// rsyslogd is where Debian installs it.
func rsyslogBinary() string {
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/rsyslogd"); err == nil {
		return "/usr/sbin/rsyslogd"
	}
	return ""
}

// StartRsyslog starts rsyslog with the server certificate of pki.
func StartRsyslog(t testing.TB, pki *PKI, o RsyslogOptions) *Rsyslog {
	t.Helper()
	bin := rsyslogBinary()
	if o.Driver == "" {
		o.Driver = "gtls"
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = 64 << 10
	}
	install := "apt-get install -y rsyslog rsyslog-gnutls rsyslog-openssl (make test-deps)"
	if bin == "" {
		missing(t, "rsyslogd", install)
	}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_" + o.Driver + ".so"); err != nil {
		if m, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_" + o.Driver + ".so"); len(m) == 0 {
			missing(t, "rsyslog's "+o.Driver+" driver", install)
		}
	}
	dir := t.TempDir()
	r := &Rsyslog{t: t, bin: bin, dir: dir, conf: filepath.Join(dir, "rsyslog.conf"), out: filepath.Join(dir, "received.log")}
	r.writeConf(pki, o, 0)
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// writeConf writes the config; port 0 lets rsyslog choose and report it.
func (r *Rsyslog) writeConf(pki *PKI, o RsyslogOptions, port int) {
	conf := fmt.Sprintf(`global(
  workDirectory=%[1]q
  maxMessageSize="%[2]d"
  defaultNetstreamDriver=%[3]q
  defaultNetstreamDriverCAFile=%[4]q
  defaultNetstreamDriverCertFile=%[5]q
  defaultNetstreamDriverKeyFile=%[6]q
)
module(load="imtcp" streamDriver.name=%[3]q streamDriver.mode="1"
       streamDriver.authMode="x509/name" permittedPeer=[%[7]q])
# %%rawmsg%% is the message exactly as framed by the sender (octet-counted
# framing removed): what the test compares byte for byte.
template(name="raw" type="string" string="%%rawmsg%%\n")
input(type="imtcp" address="127.0.0.1" port="%[8]d" listenPortFileName=%[9]q ruleset="audit")
ruleset(name="audit") {
  action(type="omfile" file=%[10]q template="raw" fileCreateMode="0600")
}
`, r.dir, o.MaxMessageSize, o.Driver, pki.CAFile, pki.ServerCert, pki.ServerKey, ClientName,
		port, filepath.Join(r.dir, "port"), r.out)
	if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// Start starts rsyslogd and waits until it listens. After a Stop it
// listens on the same port again.
func (r *Rsyslog) Start() {
	r.t.Helper()
	portFile := filepath.Join(r.dir, "port")
	_ = os.Remove(portFile)
	r.logs = new(syncBuffer)
	r.cmd = exec.Command(r.bin, "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("starting rsyslogd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// rsyslog writes the port file only for port 0; on a restart the
		// pinned port is ready when it accepts a connection.
		if r.port != 0 {
			if c, err := net.DialTimeout("tcp", r.Addr(), time.Second); err == nil {
				_ = c.Close()
				r.exited = exited
				return
			}
		} else if b, err := os.ReadFile(portFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
			p, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				r.t.Fatalf("rsyslogd port file: %v", err)
			}
			if r.port == 0 {
				r.port = p
				// Restarts must come back on the same port: pin it.
				data, _ := os.ReadFile(r.conf)
				data = bytes.Replace(data, []byte(`port="0"`), []byte(`port="`+strconv.Itoa(p)+`"`), 1)
				if err := os.WriteFile(r.conf, data, 0o600); err != nil {
					r.t.Fatal(err)
				}
			}
			r.exited = exited
			return
		}
		select {
		case <-exited:
			r.t.Fatalf("rsyslogd exited at start: %s", r.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("rsyslogd did not listen within 20s: %s", r.logs.String())
		}
	}
}

// Addr is the listener's host:port.
func (r *Rsyslog) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// Stop stops rsyslogd (SIGTERM, as an operator's restart would) and waits
// for it to exit. Stopping a stopped Rsyslog does nothing.
func (r *Rsyslog) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

// Logs is what rsyslogd printed.
func (r *Rsyslog) Logs() string { return r.logs.String() }

// Messages returns the messages received so far, in arrival order, each
// exactly as the sender framed it.
func (r *Rsyslog) Messages() [][]byte {
	data, err := os.ReadFile(r.out)
	if err != nil && !os.IsNotExist(err) {
		r.t.Fatal(err)
	}
	var msgs [][]byte
	for len(data) > 0 {
		line, rest, ok := bytes.Cut(data, []byte("\n"))
		if !ok {
			break // a line still being written
		}
		msgs = append(msgs, line)
		data = rest
	}
	return msgs
}

// WaitMessages waits until at least n messages arrived and returns them.
func (r *Rsyslog) WaitMessages(n int, limit time.Duration) [][]byte {
	r.t.Helper()
	var msgs [][]byte
	WaitFor(r.t, fmt.Sprintf("%d syslog messages at rsyslog", n), limit, func() bool {
		msgs = r.Messages()
		return len(msgs) >= n
	})
	return msgs
}

// OutputFile is the file rsyslog writes the messages to.
func (r *Rsyslog) OutputFile() string { return r.out }
