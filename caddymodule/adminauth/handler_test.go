package adminauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/skip2/go-qrcode"
	"golang.org/x/crypto/bcrypt"

	"github.com/crgate/crgate/internal/auditrec"
)

// memRecorder is an audit app stand-in.
type memRecorder struct {
	mu   sync.Mutex
	recs []*auditrec.Record
	fail error
}

func (m *memRecorder) Record(r *auditrec.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.recs = append(m.recs, r)
	return nil
}

func (m *memRecorder) find(kind auditrec.Kind, action string) []*auditrec.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*auditrec.Record
	for _, r := range m.recs {
		if r.Kind == kind && r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// door is a provisioned admin_login in front of an upstream that records
// what reaches it, served over TLS like the real site.
type door struct {
	h        *Handler
	clock    *fakeClock
	srv      *httptest.Server
	rec      *memRecorder
	mu       sync.Mutex
	upstream []*http.Request
}

func writeSecretFiles(t testing.TB, dir string) (pepper, key string) {
	pepper, key = filepath.Join(dir, "pepper"), filepath.Join(dir, "totp.key")
	if err := os.WriteFile(pepper, []byte("a pepper of at least thirty-two bytes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return pepper, key
}

func newDoor(t *testing.T, store StoreConfig) *door {
	t.Helper()
	dir := t.TempDir()
	pepper, key := writeSecretFiles(t, dir)
	if store.Driver == "" {
		store = StoreConfig{Driver: "sqlite", Path: filepath.Join(dir, "accounts.db")}
	}
	h := &Handler{Store: store, Pepper: SecretSource{File: pepper}, TOTPKey: SecretSource{File: key}, HistoryInterval: caddy.Duration(time.Hour)}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Cleanup() })
	h.secrets.bcryptCost = bcrypt.MinCost
	d := &door{h: h, rec: &memRecorder{}, clock: &fakeClock{t: time.Now()}}
	h.svc.Now = d.clock.now
	h.recorder = d.rec
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		d.mu.Lock()
		d.upstream = append(d.upstream, r.Clone(context.Background()))
		d.mu.Unlock()
		_, err := io.WriteString(w, "upstream "+r.URL.Path)
		return err
	})
	d.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repl := caddy.NewReplacer()
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		if err := h.ServeHTTP(w, r, next); err != nil {
			// Caddy's default error handling: the status, no body.
			var he caddyhttp.HandlerError
			if errors.As(err, &he) {
				w.WriteHeader(he.StatusCode)
				return
			}
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(d.srv.Close)
	return d
}

// browser is a cookie-keeping client that does not follow redirects.
func (d *door) browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := d.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post fetches the form page at formURL for its CSRF token, then posts
// values (plus the token) to action.
func post(t *testing.T, c *http.Client, formURL, action string, values url.Values) (*http.Response, string) {
	t.Helper()
	_, page := get(t, c, formURL)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf token on %s:\n%s", formURL, page)
	}
	values.Set("csrf", m[1])
	resp, err := c.PostForm(action, values)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

var (
	secretRE = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	qrRE     = regexp.MustCompile(`id="qr" alt="[^"]*" src="data:image/png;base64,([^"]+)"`)
)

// enrolThroughPage completes an enrolment link like a person would and
// returns the TOTP secret read from the page.
func (d *door) enrolThroughPage(t *testing.T, c *http.Client, token, password string) []byte {
	t.Helper()
	link := d.srv.URL + EnrolPath(token)
	_, page := get(t, c, link)
	m := secretRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no secret on the enrolment page:\n%s", page)
	}
	secret, err := b32.DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	// The QR code is a PNG of exactly the otpauth URI of that secret
	// (the encoder is deterministic, so re-encoding proves the payload).
	q := qrRE.FindStringSubmatch(page)
	if q == nil {
		t.Fatalf("no data: QR image on the enrolment page:\n%s", page)
	}
	png, err := base64.StdEncoding.DecodeString(html.UnescapeString(q[1]))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := d.h.svc.OpenEnrolment(context.Background(), token, false)
	want, _ := qrcode.Encode(totpURI("crgate", v.Account.Email+" ("+string(v.Account.Role)+")", secret), qrcode.Medium, 240)
	if !bytes.Equal(png, want) {
		t.Fatal("the QR code does not encode the otpauth URI of the shown key")
	}
	resp, body := post(t, c, link, d.srv.URL+Prefix+"enrol", url.Values{"t": {token}, "new": {password}, "confirm": {password}, "code": {TOTPCode(secret, d.clock.t)}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "is ready") {
		t.Fatalf("enrolment: %d\n%s", resp.StatusCode, body)
	}
	return secret
}

func (d *door) login(t *testing.T, c *http.Client, email, role, password, code string) (*http.Response, string) {
	return post(t, c, d.srv.URL+Prefix+"login", d.srv.URL+Prefix+"login",
		url.Values{"email": {email}, "role": {role}, "password": {password}, "code": {code}, "next": {"/crux/index.html"}})
}

// nextCode moves the door's clock to the next TOTP step (codes are
// single use) and returns that step's code.
func (d *door) nextCode(secret []byte) string {
	d.clock.add(totpPeriod * time.Second)
	return TOTPCode(secret, d.clock.t)
}

func TestHandlerFlow(t *testing.T) {
	d := newDoor(t, StoreConfig{})
	ctx := context.Background()
	tok, err := d.h.svc.CreateAccount(ctx, "ann@example.org", "Ann", RoleUser, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	c := d.browser(t)

	// No session: the UI redirects to the login page, remembering where.
	resp, _ := get(t, c, d.srv.URL+"/crux/index.html?x=1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_crgate/login?next=%2Fcrux%2Findex.html%3Fx%3D1" {
		t.Fatalf("unauthenticated: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	secret := d.enrolThroughPage(t, c, tok, testPassword)
	// The link is single use.
	if resp, _ := get(t, c, d.srv.URL+EnrolPath(tok)); resp.StatusCode != http.StatusGone {
		t.Fatalf("used link: %d", resp.StatusCode)
	}

	resp, body := d.login(t, c, "ann@example.org", "user", testPassword, d.nextCode(secret))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/crux/index.html" {
		t.Fatalf("login: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	var sc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			sc = ck
		}
	}
	if sc == nil || !sc.Secure || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/" || sc.Domain != "" {
		t.Fatalf("session cookie: %+v", sc)
	}

	// The UI is proxied; the door's cookies are not, other cookies are.
	u, _ := url.Parse(d.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "opencr", Value: "keep"}})
	resp, body = get(t, c, d.srv.URL+"/crux/index.html")
	if resp.StatusCode != http.StatusOK || body != "upstream /crux/index.html" {
		t.Fatalf("proxied: %d %s", resp.StatusCode, body)
	}
	d.mu.Lock()
	up := d.upstream[len(d.upstream)-1]
	d.mu.Unlock()
	if ck := up.Header.Get("Cookie"); strings.Contains(ck, "crgate") || !strings.Contains(ck, "opencr=keep") {
		t.Fatalf("upstream saw cookies %q", ck)
	}
	if n := len(d.rec.find(auditrec.KindUserLogin, "login")); n != 1 {
		t.Fatalf("login records: %d", n)
	}

	// The own pages are never proxied, even with a session.
	resp, _ = get(t, c, d.srv.URL+Prefix+"nothing-here")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown own page: %d", resp.StatusCode)
	}
	// A user profile may not open the account page.
	if resp, _ := get(t, c, d.srv.URL+Prefix+"accounts"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("user on account page: %d", resp.StatusCode)
	}

	// Logout ends the session server-side: the old cookie value is dead.
	resp, _ = post(t, c, d.srv.URL+Prefix, d.srv.URL+Prefix+"logout", url.Values{})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	replay := d.browser(t)
	replay.Jar.SetCookies(u, []*http.Cookie{sc})
	if resp, _ := get(t, replay, d.srv.URL+"/crux/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("replayed cookie after logout: %d", resp.StatusCode)
	}
	if n := len(d.rec.find(auditrec.KindUserLogout, "logout")); n != 1 {
		t.Fatalf("logout records: %d", n)
	}

	// Idle past the timeout: back at the login page, recorded as a timeout.
	if resp, _ := d.login(t, c, "ann@example.org", "user", testPassword, d.nextCode(secret)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second login: %d", resp.StatusCode)
	}
	d.clock.add(29 * time.Minute)
	if resp, _ := get(t, c, d.srv.URL+"/crux/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("29 minutes idle: %d", resp.StatusCode)
	}
	d.clock.add(30 * time.Minute)
	resp, _ = get(t, c, d.srv.URL+"/crux/")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/_crgate/login") {
		t.Fatalf("30 minutes idle: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := len(d.rec.find(auditrec.KindUserLogout, EndIdle)); n != 1 {
		t.Fatalf("idle records: %d", n)
	}
}

func TestHandlerLoginFailuresLookAlike(t *testing.T) {
	d := newDoor(t, StoreConfig{})
	ctx := context.Background()
	tok, _ := d.h.svc.CreateAccount(ctx, "ann@example.org", "Ann", RoleUser, "cli:test")
	c := d.browser(t)
	secret := d.enrolThroughPage(t, c, tok, testPassword)
	if _, err := d.h.svc.CreateAccount(ctx, "off@example.org", "Off", RoleUser, "cli:test"); err != nil {
		t.Fatal(err)
	}
	_, _ = d.h.svc.Store.SetStatus(ctx, AccountKey{"off@example.org", RoleUser}, StatusDisabled, "cli:test", time.Now())
	code := d.nextCode(secret)
	bad := string('0'+(code[0]-'0'+1)%10) + code[1:]
	var first string
	for _, tc := range []struct{ name, email, role, pw, code string }{
		{"wrong-code", "ann@example.org", "user", testPassword, bad},
		{"wrong-password", "ann@example.org", "user", "not the password", code},
		{"unknown", "zed@example.org", "user", testPassword, code},
		{"wrong-profile", "ann@example.org", "admin", testPassword, code},
		{"disabled", "off@example.org", "user", testPassword, code},
		{"not-an-email", "<script>", "user", testPassword, code},
		{"locked-now-with-right-factors", "ann@example.org", "user", testPassword, bad},
		{"locked", "ann@example.org", "user", testPassword, code},
	} {
		resp, body := d.login(t, c, tc.email, tc.role, tc.pw, tc.code)
		// Same status and the same page, apart from the echoed email,
		// profile and the CSRF token.
		norm := csrfRE.ReplaceAllString(body, "")
		norm = strings.ReplaceAll(norm, `value="`+tc.email+`"`, "")
		norm = strings.ReplaceAll(norm, `value="`+url.QueryEscape(tc.email)+`"`, "")
		norm = strings.ReplaceAll(norm, `value="&lt;script&gt;"`, "")
		norm = strings.Replace(strings.Replace(norm, ` selected>admin`, `>admin`, 1), `"user">`, `"user" selected>`, 1)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, loginFailed) {
			t.Fatalf("%s: %d\n%s", tc.name, resp.StatusCode, body)
		}
		if first == "" {
			first = norm
		} else if norm != first {
			t.Fatalf("%s: page differs from the first failure's", tc.name)
		}
		if strings.Contains(body, "<script>") {
			t.Fatalf("%s: email echoed unescaped", tc.name)
		}
	}
	// The audit record knows the real reason.
	var reasons []string
	for _, r := range d.rec.find(auditrec.KindUserLogin, "login_failed") {
		reasons = append(reasons, r.RefusalReason)
	}
	want := "wrong_code,wrong_password,unknown_account,unknown_account,account_disabled,unknown_account,locked_now,account_locked"
	if got := strings.Join(reasons, ","); got != want {
		t.Fatalf("audit reasons %s\nwant %s", got, want)
	}
	// The lockout reaches the audit app as an account change.
	d.h.emitHistory(ctx)
	if locks := d.rec.find(auditrec.KindUserAccountChange, ActionLocked); len(locks) != 1 || locks[0].UserID != "ann@example.org" {
		t.Fatalf("lock records: %+v", locks)
	}
}

func TestHandlerCSRF(t *testing.T) {
	d := newDoor(t, StoreConfig{})
	c := d.browser(t)
	_, page := get(t, c, d.srv.URL+Prefix+"login")
	token := csrfRE.FindStringSubmatch(page)[1]
	form := url.Values{"email": {"a@b.org"}, "password": {"x"}, "code": {"123456"}, "role": {"user"}}
	for _, tc := range []struct {
		name   string
		mutate func(r *http.Request, v url.Values)
		want   int
	}{
		{"fail/no-token", func(r *http.Request, v url.Values) {}, http.StatusForbidden},
		{"fail/token-of-other-form", func(r *http.Request, v url.Values) { v.Set("csrf", d.h.csrfMAC("x", "login")) }, http.StatusForbidden},
		{"fail/cross-site-fetch", func(r *http.Request, v url.Values) {
			v.Set("csrf", token)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
		}, http.StatusForbidden},
		{"fail/foreign-origin", func(r *http.Request, v url.Values) {
			v.Set("csrf", token)
			r.Header.Set("Origin", "https://evil.example")
		}, http.StatusForbidden},
		{"ok/token", func(r *http.Request, v url.Values) {
			v.Set("csrf", token)
			r.Header.Set("Sec-Fetch-Site", "same-origin")
		}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := url.Values{}
			for k, vv := range form {
				v[k] = vv
			}
			req, _ := http.NewRequest(http.MethodPost, d.srv.URL+Prefix+"login", nil)
			tc.mutate(req, v)
			req.Body = io.NopCloser(strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("got %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestHandlerPageHeaders(t *testing.T) {
	d := newDoor(t, StoreConfig{})
	resp, body := get(t, d.browser(t), d.srv.URL+Prefix+"login")
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP %q", csp)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers %v", resp.Header)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Fatal("login page refers to scripts or external resources")
	}
}

func TestAdminAccountPage(t *testing.T) {
	d := newDoor(t, StoreConfig{})
	ctx := context.Background()
	tok, _ := d.h.svc.CreateAccount(ctx, "boss@example.org", "Boss", RoleAdmin, "cli:test")
	c := d.browser(t)
	secret := d.enrolThroughPage(t, c, tok, testPassword)
	resp, _ := d.login(t, c, "boss@example.org", "admin", testPassword, d.nextCode(secret))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Prefix {
		t.Fatalf("admin login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The admin profile does not get the proxied UI.
	if resp, _ := get(t, c, d.srv.URL+"/crux/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Prefix {
		t.Fatalf("admin on UI: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	acc := d.srv.URL + Prefix + "accounts"
	resp, body := post(t, c, acc, acc, url.Values{"op": {"create"}, "email": {"Nurse@Example.org"}, "name": {"Nurse"}})
	m := regexp.MustCompile(`id="link">https://[^/]+(/_crgate/enrol\?t=([A-Za-z0-9_-]+))<`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("create: %d\n%s", resp.StatusCode, body)
	}
	// Admins manage user accounts only: an admin account is out of reach.
	resp, body = post(t, c, acc, acc, url.Values{"op": {"disable"}, "email": {"boss@example.org"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "has no user account") {
		t.Fatalf("disable admin: %d", resp.StatusCode)
	}
	resp, _ = post(t, c, acc, acc, url.Values{"op": {"disable"}, "email": {"nurse@example.org"}})
	if a, _ := d.h.svc.Store.Account(ctx, AccountKey{"nurse@example.org", RoleUser}); resp.StatusCode != http.StatusOK || a.Status != StatusDisabled {
		t.Fatalf("disable: %d %v", resp.StatusCode, a.Status)
	}
	// A disabled account's link does not work.
	if resp, _ := get(t, d.browser(t), d.srv.URL+m[1]); resp.StatusCode != http.StatusGone {
		t.Fatalf("disabled account's link: %d", resp.StatusCode)
	}
	h, _ := d.h.svc.Store.History(ctx, "nurse@example.org")
	if len(h) != 3 || h[0].Actor != "boss@example.org (admin)" || h[2].Action != ActionDisabled {
		t.Fatalf("history %+v", h)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/crux/index.html?a=b": "/crux/index.html?a=b",
		"":                     "/",
		"//evil.example/x":     "/",
		"/\\evil.example":      "/",
		"https://evil.example": "/",
		"crux":                 "/",
		"/_crgate/logout":      "/",
		"/a\r\nSet-Cookie: x":  "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHandlerReloginEndsOldSession(t *testing.T) {
	d := newDoor(t, StoreConfig{})
	tok, _ := d.h.svc.CreateAccount(context.Background(), "ann@example.org", "Ann", RoleUser, "cli:test")
	c := d.browser(t)
	secret := d.enrolThroughPage(t, c, tok, testPassword)
	d.login(t, c, "ann@example.org", "user", testPassword, d.nextCode(secret))
	u, _ := url.Parse(d.srv.URL)
	var first *http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			first = ck
		}
	}
	if first == nil {
		t.Fatal("no session cookie")
	}
	d.login(t, c, "ann@example.org", "user", testPassword, d.nextCode(secret))
	if resp, _ := get(t, c, d.srv.URL+"/crux/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("new session: %d", resp.StatusCode)
	}
	old := d.browser(t)
	old.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: first.Value}})
	if resp, _ := get(t, old, d.srv.URL+"/crux/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the session before the second login still works: %d", resp.StatusCode)
	}
}

func TestHandlerChangePasswordPage(t *testing.T) {
	d := newDoor(t, StoreConfig{})
	tok, _ := d.h.svc.CreateAccount(context.Background(), "ann@example.org", "Ann", RoleUser, "cli:test")
	c := d.browser(t)
	secret := d.enrolThroughPage(t, c, tok, testPassword)
	d.login(t, c, "ann@example.org", "user", testPassword, d.nextCode(secret))
	page := d.srv.URL + Prefix + "password"
	for _, tc := range []struct {
		name, current, new string
		status             int
		want               string
	}{
		{"fail/wrong-current", "not it at all", "violet engine harbour 9", http.StatusBadRequest, "current password is wrong"},
		{"fail/weak", testPassword, "password1234", http.StatusBadRequest, "harder to guess"},
		{"fail/contains-email", testPassword, "ann@example.org-2024!", http.StatusBadRequest, "parts of it"},
		{"ok/changed", testPassword, "violet engine harbour 9", http.StatusOK, "Your password is changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, c, page, page, url.Values{"current": {tc.current}, "new": {tc.new}, "confirm": {tc.new}})
			if resp.StatusCode != tc.status || !strings.Contains(html.UnescapeString(body), tc.want) {
				t.Fatalf("%d, want %d with %q:\n%s", resp.StatusCode, tc.status, tc.want, body)
			}
		})
	}
	// Without a session the page redirects to the login page.
	if resp, _ := get(t, d.browser(t), page); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("no session: %d", resp.StatusCode)
	}
	// The new password works, the old one does not.
	c2 := d.browser(t)
	if resp, _ := d.login(t, c2, "ann@example.org", "user", testPassword, d.nextCode(secret)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old password: %d", resp.StatusCode)
	}
	if resp, _ := d.login(t, c2, "ann@example.org", "user", "violet engine harbour 9", d.nextCode(secret)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("new password: %d", resp.StatusCode)
	}
}
