package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium; without it the browser test is
// skipped, or fails when CI=true (CI installs it: make test-deps).
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (make test-deps)")
	}
	t.Skip("chromium is not installed (CI would fail here; make test-deps)")
	return ""
}

// browserCtx starts a headless Chromium with a fresh profile.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // the tests may run as root in a container
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The dev CA is not in Chromium's trust store; the Go tests check
		// the certificate chain, this one checks the pages.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(900, 1000),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// screenshot saves the page to docs/ with -update-screenshots, else to
// the test's temporary directory (so the step runs either way).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// Quality 100 gives a PNG (below 100, a JPEG).
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := t.TempDir()
	if *updateScreenshots {
		dir = filepath.Join(repoRoot, "docs")
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// text returns an element's text.
func text(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("text of #%s: %v", id, err)
	}
	return strings.TrimSpace(s)
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestLoginBrowser drives the door in a real headless Chromium: enrolment
// through the link (the key read from the page, as a person would type it
// into their app), login, the proxied OpenCR UI, idle timeout, lockout and
// a disabled account.
func TestLoginBrowser(t *testing.T) {
	ctx := browserCtx(t)
	d := startLoginDoor(t, "sqlite")
	annLink := d.addUser(t, "ann@example.org", "--name", "Ann")
	bobLink := d.addUser(t, "bob@example.org")

	// Enrol.
	do(t, ctx, "enrolment page", chromedp.Navigate(annLink), chromedp.WaitVisible(chromedp.ID("qr")))
	app := newAuthApp(t, text(t, ctx, "totp-secret"))
	// The QR code is an image the browser rendered (not blocked by the CSP
	// or the template's URL filter).
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.getElementById("qr").naturalWidth`)); err != nil || w < 100 {
		t.Fatalf("QR image width %d, %v", w, err)
	}
	screenshot(t, ctx, "admin_login-enrol.png")
	do(t, ctx, "enrolling",
		chromedp.SendKeys(chromedp.ID("new"), e2ePassword),
		chromedp.SendKeys(chromedp.ID("confirm"), e2ePassword),
		chromedp.SendKeys(chromedp.ID("code"), app.code()),
		chromedp.Click(chromedp.ID("enrol")),
		chromedp.WaitVisible(chromedp.ID("message")))
	if msg := text(t, ctx, "message"); !strings.Contains(msg, "is ready") {
		t.Fatalf("after enrolment: %q", msg)
	}

	// The UI redirects to the login page; log in; the UI is served.
	login := func(email, code string) string {
		t.Helper()
		do(t, ctx, "login as "+email,
			chromedp.Navigate(d.base()+"/crux/"),
			chromedp.WaitVisible(chromedp.ID("email")),
			chromedp.SendKeys(chromedp.ID("email"), email),
			chromedp.SendKeys(chromedp.ID("password"), e2ePassword),
			chromedp.SendKeys(chromedp.ID("code"), code),
			chromedp.Click(chromedp.ID("login")),
			// The next page: the OpenCR UI (its #app) or the login page
			// again with its #error.
			chromedp.WaitReady(chromedp.CSS("#app, #error")))
		title, err := chromedp.Run(ctx, chromedp.Title())
		if err != nil {
			t.Fatal(err)
		}
		return title
	}
	do(t, ctx, "login page", chromedp.Navigate(d.base()+"/crux/"), chromedp.WaitVisible(chromedp.ID("email")))
	screenshot(t, ctx, "admin_login-login.png")
	if title := login("ann@example.org", app.code()); title != "OpenCR" {
		t.Fatalf("after login the page is %q, want the OpenCR UI", title)
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(loc, "/crux/") {
		t.Fatalf("location %q %v", loc, err)
	}

	// Idle past the timeout: the next page is the login page.
	time.Sleep(4500 * time.Millisecond)
	do(t, ctx, "after idle", chromedp.Navigate(d.base()+"/crux/"), chromedp.WaitVisible(chromedp.ID("email")))
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.Contains(loc, "/_crgate/login") {
		t.Fatalf("after idle at %q %v", loc, err)
	}

	// Three wrong codes, then the right one: refused (locked), same message.
	for i := range 4 {
		code := app.wrongCode()
		if i == 3 {
			code = app.code()
		}
		if title := login("ann@example.org", code); title == "OpenCR" {
			t.Fatalf("attempt %d reached the UI", i+1)
		}
		if msg := text(t, ctx, "error"); !strings.Contains(msg, "Login failed") {
			t.Fatalf("attempt %d: %q", i+1, msg)
		}
	}

	// A disabled account is refused with its right factors.
	bob := d.person(t)
	bapp := bob.enrol(bobLink, e2ePassword)
	d.users(t, "disable", "bob@example.org")
	if title := login("bob@example.org", bapp.code()); title == "OpenCR" {
		t.Fatal("disabled account reached the UI")
	}
	if msg := text(t, ctx, "error"); !strings.Contains(msg, "Login failed") {
		t.Fatalf("disabled: %q", msg)
	}
}
