package e2e

import (
	"context"
	"crypto/tls"
	"encoding/base32"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crgate/crgate/caddymodule/adminauth"
	"github.com/crgate/crgate/internal/pgtest"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the login and enrolment page screenshots to docs/")

// loginDoor is a running crgate whose admin site (on its own port) is
// admin_login in front of the registry simulator.
type loginDoor struct {
	*gateway
	sitePort int
	store    string   // --store for `crgate users`
	env      []string // environment for `crgate users` (the DSN)
}

// base is the admin site's URL under the name its certificate has.
func (d *loginDoor) base() string { return fmt.Sprintf("https://localhost:%d", d.sitePort) }

// startLoginDoor starts a gateway with the repository's Caddyfile plus an
// admin site with admin_login on the given store ("sqlite" or "postgres").
func startLoginDoor(t *testing.T, store string) *loginDoor {
	t.Helper()
	dir := t.TempDir()
	pepper, key := filepath.Join(dir, "pepper"), filepath.Join(dir, "totp.key")
	if err := os.WriteFile(pepper, []byte(strings.Repeat("pepper-e2e-", 4)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &loginDoor{sitePort: freePort(t)}
	env := map[string]string{
		"CRGATE_LOGIN_PORT": fmt.Sprint(d.sitePort),
		// The repository Caddyfile's own admin site (once it has one) must
		// not collide with other tests' ports.
		"CRGATE_ADMIN_SITE_PORT": fmt.Sprint(freePort(t)),
	}
	var storeLine string
	switch store {
	case "sqlite":
		path := filepath.Join(dir, "accounts.db")
		storeLine, d.store = "store sqlite "+path, "sqlite:"+path
	case "postgres":
		env["CRGATE_LOGIN_DSN"] = pgtest.DSN(t)
		d.env = []string{"CRGATE_LOGIN_DSN=" + env["CRGATE_LOGIN_DSN"]}
		storeLine, d.store = "store postgres env CRGATE_LOGIN_DSN", "postgres:env:CRGATE_LOGIN_DSN"
	}
	base, err := os.ReadFile(filepath.Join(repoRoot, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	site := fmt.Sprintf(`
https://:{$CRGATE_LOGIN_PORT} {
	tls {$CRGATE_CERTS}/server.crt {$CRGATE_CERTS}/server.key {
		protocols tls1.2 tls1.3
	}
	admin_login {
		%s
		pepper_file %s
		totp_key_file %s
		idle_timeout 4s
		lockout 3 1h
		history_interval 200ms
	}
	reverse_proxy {$CRGATE_UPSTREAM}
}
`, storeLine, pepper, key)
	caddyfile := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(caddyfile, append(base, site...), 0o600); err != nil {
		t.Fatal(err)
	}
	d.gateway = startGateway(t, gatewayOptions{caddyfile: caddyfile, env: env})
	return d
}

// users runs `crgate users args... --store …` and returns its output.
func (d *loginDoor) users(t *testing.T, args ...string) string {
	t.Helper()
	args = append(append([]string{"users"}, args...), "--store", d.store)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, crgateBin, args...)
	cmd.Env = append(os.Environ(), d.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("crgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var e2eLinkRE = regexp.MustCompile(`https://localhost:\d+/_crgate/enrol\?t=[A-Za-z0-9_-]{43}`)

// addUser creates an account with the CLI and returns its enrolment link.
func (d *loginDoor) addUser(t *testing.T, email string, extra ...string) string {
	t.Helper()
	out := d.users(t, append([]string{"add", "--email", email, "--link-base", d.base()}, extra...)...)
	link := e2eLinkRE.FindString(out)
	if link == "" {
		t.Fatalf("no link in:\n%s", out)
	}
	return link
}

// authApp is a person's authenticator app: it hands out a code for a
// time step the door has not seen yet (codes are single use), waiting for
// the clock when the ±1 step window is used up.
type authApp struct {
	secret []byte
	last   int64
}

func newAuthApp(t *testing.T, secretText string) *authApp {
	t.Helper()
	s, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secretText)
	if err != nil || len(s) < 16 {
		t.Fatalf("TOTP secret %q: %v", secretText, err)
	}
	return &authApp{secret: s}
}

func (a *authApp) code() string {
	for {
		t := time.Now().Unix()
		now := t / 30
		steps := []int64{now, now + 1}
		// The previous step is accepted too, while it cannot turn two steps
		// old before the request arrives.
		if t%30 < 25 {
			steps = []int64{now - 1, now, now + 1}
		}
		for _, step := range steps {
			if step > a.last {
				a.last = step
				return adminauth.TOTPCode(a.secret, time.Unix(step*30, 0))
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// wrongCode is a code that is certainly not valid now.
func (a *authApp) wrongCode() string {
	c := adminauth.TOTPCode(a.secret, time.Now())
	for i := 0; ; i++ {
		cand := fmt.Sprintf("%06d", (i*7919+123457)%1000000)
		ok := true
		for d := int64(-2); d <= 2; d++ {
			if adminauth.TOTPCode(a.secret, time.Now().Add(time.Duration(d)*30*time.Second)) == cand {
				ok = false
			}
		}
		if ok && cand != c {
			return cand
		}
	}
}

// person is a browser-like HTTP client: cookie jar, the dev CA trusted,
// redirects not followed (so each hop is asserted).
type person struct {
	t *testing.T
	c *http.Client
	d *loginDoor
}

func (d *loginDoor) person(t *testing.T) *person {
	jar, _ := cookiejar.New(nil)
	// Always from 127.0.0.1 (never ::1, which "localhost" may resolve to):
	// admin sites with subnet_guard admit listed addresses only.
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	addr := fmt.Sprintf("127.0.0.1:%d", d.sitePort)
	return &person{t: t, d: d, c: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: fixtures.caPool, ServerName: "localhost"},
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "tcp", addr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (p *person) get(u string) (*http.Response, string) {
	p.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = p.d.base() + u
	}
	resp, err := p.c.Get(u)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var (
	e2eCSRF   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	e2eSecret = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
)

// submit fetches formPage, then posts the form with its CSRF token.
func (p *person) submit(formPage, action string, v url.Values) (*http.Response, string) {
	p.t.Helper()
	_, page := p.get(formPage)
	m := e2eCSRF.FindStringSubmatch(page)
	if m == nil {
		p.t.Fatalf("no form on %s:\n%s", formPage, page)
	}
	v.Set("csrf", m[1])
	req, _ := http.NewRequest(http.MethodPost, p.d.base()+action, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", p.d.base())
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// enrol opens the link, reads the key from the page and finishes.
func (p *person) enrol(link, password string) *authApp {
	p.t.Helper()
	_, page := p.get(link)
	m := e2eSecret.FindStringSubmatch(page)
	if m == nil {
		p.t.Fatalf("no key on the enrolment page:\n%s", page)
	}
	app := newAuthApp(p.t, m[1])
	u, _ := url.Parse(link)
	resp, body := p.submit(link, "/_crgate/enrol", url.Values{"t": {u.Query().Get("t")}, "new": {password}, "confirm": {password}, "code": {app.code()}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "is ready") {
		p.t.Fatalf("enrolment: %d\n%s", resp.StatusCode, body)
	}
	return app
}

func (p *person) login(email, password, code string) *http.Response {
	p.t.Helper()
	resp, _ := p.submit("/_crgate/login", "/_crgate/login", url.Values{"email": {email}, "password": {password}, "code": {code}, "role": {"user"}, "next": {"/crux/"}})
	return resp
}

const e2ePassword = "granite puffin orchestra 42"

// devAdminSession makes an account on the admin site of a gateway running
// the repository's Caddyfile, enrols and logs it in (from 127.0.0.1), and
// returns the Cookie header carrying its session.
func devAdminSession(t *testing.T, g *gateway) http.Header {
	t.Helper()
	return adminSession(t, g, "sqlite:"+filepath.Join(g.certs, "accounts.db"))
}

// adminSession enrols an operator in the account store of g's admin site
// and returns the Cookie header of their logged-in session.
func adminSession(t *testing.T, g *gateway, store string) http.Header {
	t.Helper()
	d := &loginDoor{gateway: g, sitePort: g.adminSite, store: store}
	p := d.person(t)
	app := p.enrol(d.addUser(t, "operator@example.org"), e2ePassword)
	if resp := p.login("operator@example.org", e2ePassword, app.code()); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login at the dev admin site: %d", resp.StatusCode)
	}
	u, _ := url.Parse(d.base())
	for _, c := range p.c.Jar.Cookies(u) {
		if c.Name == "__Host-crgate_session" {
			return http.Header{"Cookie": {c.Name + "=" + c.Value}}
		}
	}
	t.Fatal("no session cookie after login")
	return nil
}

// TestLoginHTTP runs the person flows through the real binary against
// both stores: enrolment link, login, the proxied UI, idle timeout,
// lockout, disabling.
func TestLoginHTTP(t *testing.T) {
	// The PostgreSQL server is shared by this test's subtests only.
	t.Cleanup(pgtest.Stop)
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			d := startLoginDoor(t, store)
			annLink := d.addUser(t, "ann@example.org", "--name", "Ann")
			bobLink := d.addUser(t, "bob@example.org")
			carlLink := d.addUser(t, "carl@example.org")

			ann := d.person(t)
			// Without a session the UI is not proxied: redirect to login.
			resp, _ := ann.get("/crux/")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/_crgate/login?next=") {
				t.Fatalf("unauthenticated /crux/: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			for _, r := range d.sim.records(t) {
				if strings.HasPrefix(r.Path, "/crux") || strings.HasPrefix(r.Path, "/_crgate") {
					t.Fatalf("reached the registry without a session: %s", r.RequestURI)
				}
			}
			app := ann.enrol(annLink, e2ePassword)
			if resp, _ := ann.get(annLink); resp.StatusCode != http.StatusGone {
				t.Fatalf("enrolment link reused: %d", resp.StatusCode)
			}
			if resp := ann.login("ann@example.org", e2ePassword, app.code()); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/crux/" {
				t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			resp, body := ann.get("/crux/")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "<title>OpenCR</title>") {
				t.Fatalf("proxied UI: %d\n%s", resp.StatusCode, body)
			}
			recs := d.sim.records(t)
			last := recs[len(recs)-1]
			if last.Path != "/crux/" || strings.Contains(strings.Join(last.HeaderValues("cookie"), ";"), "crgate") {
				t.Fatalf("upstream saw %s with cookies %q", last.Path, last.HeaderValues("cookie"))
			}
			// Idle past the (shortened) timeout: back at the login page.
			time.Sleep(4500 * time.Millisecond)
			resp, _ = ann.get("/crux/")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/_crgate/login") {
				t.Fatalf("after idle timeout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}

			// Three wrong codes lock the account: the right code is then refused too.
			carl := d.person(t)
			capp := carl.enrol(carlLink, e2ePassword)
			for i := range 3 {
				if resp := carl.login("carl@example.org", e2ePassword, capp.wrongCode()); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("wrong code %d: %d", i+1, resp.StatusCode)
				}
			}
			if resp := carl.login("carl@example.org", e2ePassword, capp.code()); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("locked account logged in: %d", resp.StatusCode)
			}
			if out := d.users(t, "list"); !regexp.MustCompile(`carl@example.org\s+user\s+active\s+set\s+set\s+until `).MatchString(out) {
				t.Fatalf("list does not show the lock:\n%s", out)
			}

			// Disabling ends a live session at once and refuses the next login.
			bob := d.person(t)
			bapp := bob.enrol(bobLink, e2ePassword)
			if resp := bob.login("bob@example.org", e2ePassword, bapp.code()); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("bob login: %d", resp.StatusCode)
			}
			if resp, _ := bob.get("/crux/"); resp.StatusCode != http.StatusOK {
				t.Fatalf("bob's UI: %d", resp.StatusCode)
			}
			d.users(t, "disable", "bob@example.org")
			if resp, _ := bob.get("/crux/"); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("disabled account's session still proxied: %d", resp.StatusCode)
			}
			if resp := bob.login("bob@example.org", e2ePassword, bapp.code()); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("disabled account logged in: %d", resp.StatusCode)
			}
			if out := d.users(t, "history", "bob@example.org"); !strings.Contains(out, "disabled") || !strings.Contains(out, "totp_enrolled") {
				t.Fatalf("history:\n%s", out)
			}
			m := d.metrics(t)
			for _, want := range []string{
				`crgate_admin_login_logins_total{result="ok"} 2`,
				`crgate_admin_login_logins_total{result="wrong_code"} 2`,
				`crgate_admin_login_logins_total{result="locked_now"} 1`,
				`crgate_admin_login_logins_total{result="account_locked"} 1`,
				`crgate_admin_login_logins_total{result="account_disabled"} 1`,
				`crgate_admin_login_lockouts_total 1`,
				`crgate_admin_login_sessions_ended_total{how="idle_timeout"} 1`,
			} {
				if !strings.Contains(m, want) {
					t.Errorf("metrics lack %s", want)
				}
			}
		})
	}
}
