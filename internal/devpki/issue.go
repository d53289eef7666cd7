package devpki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/crgate/crgate/internal/certfp"
)

// DefaultClientDays is the client certificate validity.
const DefaultClientDays = 365

// nameRE is what a client name may look like. The name becomes a file name
// under DIR/clients, so no separators, no leading dot (no "..", no hidden
// files), and a length every filesystem accepts.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateName checks a client name (--name).
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid client name %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// IssueOptions are the inputs of Issue; the zero value of each optional
// field is its default.
type IssueOptions struct {
	// Dir is a PKI directory made by Init. Required.
	Dir string
	// Name is the client's subject CN and file name. Required; see
	// ValidateName.
	Name string
	// Days is the validity; 0 means DefaultClientDays.
	Days int
	// Backdate moves NotBefore and NotAfter this many days into the past,
	// for testing expiry handling: Days 1, Backdate 2 is already expired.
	Backdate int
	// KeyType is the client key's type; "" means DefaultKeyType.
	KeyType KeyType
	// P12 also writes NAME.p12 (key, certificate and CA certificate).
	P12 bool
	// P12Password protects NAME.p12. If empty, a random password is made
	// and written to NAME.p12.pass.
	P12Password string
	// Force overwrites an existing NAME.key.
	Force bool
}

// Issued says what Issue made.
type Issued struct {
	Name        string
	Cert        *x509.Certificate
	Fingerprint certfp.Fingerprint
	CertPath    string
	KeyPath     string
	// P12Path is set when a PKCS#12 bundle was written.
	P12Path string
	// P12PassPath is set when its password was generated and written there.
	P12PassPath string
	// Removed lists leftovers of an earlier certificate with the same name
	// that Issue deleted: with --force and no --p12, a NAME.p12 holding the
	// old key; a NAME.p12.pass for a bundle no longer there or whose
	// password now comes from --p12-password-file.
	Removed []string
}

// Issue makes a client certificate signed by the CA in opts.Dir.
func Issue(opts IssueOptions) (*Issued, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("no PKI directory given (--dir)")
	}
	if err := ValidateName(opts.Name); err != nil {
		return nil, fmt.Errorf("--name: %w", err)
	}
	kt, err := ParseKeyType(string(opts.KeyType))
	if err != nil {
		return nil, fmt.Errorf("--key-type: %w", err)
	}
	days := opts.Days
	switch {
	case days == 0:
		days = DefaultClientDays
	case days < 0:
		return nil, fmt.Errorf("--days must be positive, got %d", days)
	}
	if opts.Backdate < 0 {
		return nil, fmt.Errorf("--backdate must not be negative, got %d", opts.Backdate)
	}

	l := layout{dir: opts.Dir}
	c, err := loadCA(l)
	if err != nil {
		return nil, err
	}
	out := &Issued{
		Name:     opts.Name,
		CertPath: l.clientFile(opts.Name, ".crt"),
		KeyPath:  l.clientFile(opts.Name, ".key"),
	}
	p12Path, passPath := l.clientFile(opts.Name, ".p12"), l.clientFile(opts.Name, ".p12.pass")
	if !opts.Force {
		// NAME.p12 holds a private key too, so it is protected like
		// NAME.key rather than deleted as stale below.
		for _, path := range []string{out.KeyPath, p12Path} {
			found, err := exists(path)
			if err != nil {
				return nil, err
			}
			if found {
				return nil, fmt.Errorf("refusing to overwrite %s: %w (--force issues a new key and certificate for %q)",
					path, ErrExists, opts.Name)
			}
		}
	}

	cert, key, keyPEM, err := c.newClient(kt, opts.Name, days, opts.Backdate)
	if err != nil {
		return nil, err
	}
	out.Cert = cert
	out.Fingerprint = certfp.Of(cert.Raw)

	var (
		files []pendingFile
		stale []string
	)
	if opts.P12 {
		password := opts.P12Password
		if password == "" {
			// 130 random bits: the Modern encoder's 2048 PBKDF2
			// rounds give a weak password no protection, so the
			// password itself must be strong.
			password = rand.Text()
			files = append(files, pendingFile{passPath, []byte(password + "\n"), secretMode})
			out.P12PassPath = passPath
		} else {
			stale = append(stale, passPath)
		}
		p12, err := pkcs12.Modern.Encode(key, cert, []*x509.Certificate{c.cert}, password)
		if err != nil {
			return nil, fmt.Errorf("encoding PKCS#12 bundle for %q: %w", opts.Name, err)
		}
		files = append(files, pendingFile{p12Path, p12, secretMode})
		out.P12Path = p12Path
	} else {
		stale = append(stale, p12Path, passPath)
	}
	// NAME.key goes last, so a NAME.key on disk always has its NAME.crt
	// (and NAME.p12) beside it, even after a crash.
	files = append(files,
		pendingFile{out.CertPath, encodePEM(pemCertificate, cert.Raw), publicMode},
		pendingFile{out.KeyPath, keyPEM, secretMode},
	)

	if err := os.MkdirAll(l.clients(), dirMode); err != nil {
		return nil, fmt.Errorf("creating clients directory %s: %w", l.clients(), err)
	}
	// Leftovers of an earlier certificate with this name would hold the
	// old key, or a password that opens nothing; they are removed rather
	// than left as a trap.
	for _, path := range stale {
		switch err := os.Remove(path); {
		case err == nil:
			out.Removed = append(out.Removed, path)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("removing stale %s: %w", path, err)
		}
	}
	if _, err := writeAll(files); err != nil {
		return nil, err
	}
	return out, nil
}

// newClient makes a client certificate and key. backdate moves the whole
// validity period that many days into the past.
func (c *ca) newClient(kt KeyType, name string, days, backdate int) (*x509.Certificate, crypto.Signer, []byte, error) {
	key, err := kt.generate()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generating client key: %w", err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("client key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, nil, err
	}
	t := now().AddDate(0, 0, -backdate)
	notAfter := t.AddDate(0, 0, days)
	if err := c.checkWithinCA(notAfter); err != nil {
		return nil, nil, nil, fmt.Errorf("client certificate %q: %w", name, err)
	}
	cert, err := sign(&x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             t.Add(-clockSkew),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		// ClientAuth only: a node's certificate must not be usable to
		// impersonate the gateway.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, c.cert, key.Public(), c.key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("signing client certificate %q: %w", name, err)
	}
	return cert, key, keyPEM, nil
}

// readPasswordFile reads a PKCS#12 password from the first line of a file,
// as openssl's `-passin file:` does, so one file serves both tools.
func readPasswordFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading PKCS#12 password file %s: %w", path, err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("PKCS#12 password file %s: first line is empty", path)
	}
	return line, nil
}
