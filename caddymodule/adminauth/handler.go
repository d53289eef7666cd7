package adminauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/crgate/crgate/internal/auditrec"
	"github.com/crgate/crgate/internal/gate"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Prefix is the path prefix the handler owns: its login, logout,
// enrolment, password and account pages. Requests under it never reach
// the upstream.
const Prefix = "/_crgate/"

// sessionCookie carries the session id. The __Host- prefix makes the
// browser refuse it unless Secure, Path=/ and without Domain, so no other
// host or plain-HTTP page can set or overwrite it.
const sessionCookie = "__Host-crgate_session"

// Handler is admin_login: people log in with email, password and a TOTP
// code before anything behind it (the registry's admin UI) is served.
// Every other request needs a live session of a `user` profile; without
// one it is redirected to the login page. `admin` profiles manage user
// accounts on the handler's own page.
type Handler struct {
	// Store is where accounts, sessions and counters live. Required.
	Store StoreConfig `json:"store"`
	// Pepper is the server-side secret mixed into every password hash
	// (at least 32 bytes, from a file or an environment variable; never in
	// the store). Required; changing it invalidates every password.
	Pepper SecretSource `json:"pepper"`
	// TOTPKey is the AES-256 key (32 bytes, hex or base64) that seals TOTP
	// secrets in the store. Required; changing it invalidates every
	// enrolment.
	TOTPKey SecretSource `json:"totp_key"`
	// IdleTimeout ends a session unused this long. Default 30m.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`
	// MaxLifetime ends a session this long after login, however active.
	// Default 8h.
	MaxLifetime caddy.Duration `json:"max_lifetime,omitempty"`
	// LockoutFailures failed logins (any wrong factor) lock the account
	// for LockoutDuration. Defaults 3 and 1h. Anyone who knows an email
	// can therefore lock its account for a while; that is the price of
	// stopping online guessing.
	LockoutFailures int            `json:"lockout_failures,omitempty"`
	LockoutDuration caddy.Duration `json:"lockout_duration,omitempty"`
	// AddrFailures failed logins from one client address within AddrWindow
	// refuse further logins from it until the window ends, so one address
	// cannot spray many accounts. Defaults 20 and 15m.
	AddrFailures int            `json:"addr_failures,omitempty"`
	AddrWindow   caddy.Duration `json:"addr_window,omitempty"`
	// EnrolmentTTL is how long an enrolment link issued on the account
	// page works. Default 24h.
	EnrolmentTTL caddy.Duration `json:"enrolment_ttl,omitempty"`
	// BcryptCost for new password hashes. Default 11 (~125 ms per check).
	BcryptCost int `json:"bcrypt_cost,omitempty"`
	// Issuer is the name authenticator apps show next to the account.
	// Default "crgate".
	Issuer string `json:"issuer,omitempty"`
	// HistoryInterval is how often account changes made elsewhere (the
	// `crgate users` command, other gateways) are looked for and sent to
	// the audit app. Default 2s.
	HistoryInterval caddy.Duration `json:"history_interval,omitempty"`

	svc         *Service
	secrets     *Secrets
	recorder    auditrec.Recorder
	crossOrigin *http.CrossOriginProtection
	logger      *zap.Logger
	stop        context.CancelFunc
	kick        chan struct{}
	wg          *sync.WaitGroup
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.admin_login",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision reads the secrets, opens the store, finds the audit app and
// starts the history emitter.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Issuer == "" {
		h.Issuer = "crgate"
	}
	if h.HistoryInterval == 0 {
		h.HistoryInterval = caddy.Duration(2 * time.Second)
	}
	if err := h.Store.Validate(); err != nil {
		return err
	}
	sec, err := LoadSecrets(h.Pepper, h.TOTPKey, h.BcryptCost)
	if err != nil {
		return err
	}
	h.secrets = sec
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	rec, ok, err := auditrec.FromContext(ctx)
	if err != nil {
		return err
	}
	if ok {
		h.recorder = rec
	}
	if err := h.Validate(); err != nil {
		return err
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := h.Store.Open(openCtx)
	if err != nil {
		return err
	}
	h.svc = NewService(st, sec, Rules{
		IdleTimeout:     time.Duration(h.IdleTimeout),
		MaxLifetime:     time.Duration(h.MaxLifetime),
		LockoutFailures: h.LockoutFailures,
		LockoutDuration: time.Duration(h.LockoutDuration),
		EnrolmentTTL:    time.Duration(h.EnrolmentTTL),
		AddrFailures:    h.AddrFailures,
		AddrWindow:      time.Duration(h.AddrWindow),
	})
	h.crossOrigin = http.NewCrossOriginProtection()
	h.kick = make(chan struct{}, 1)
	bg, stop := context.WithCancel(context.Background())
	h.stop = stop
	h.wg = new(sync.WaitGroup)
	h.wg.Add(1)
	go h.housekeeping(bg)
	return nil
}

// Validate checks the limits.
func (h *Handler) Validate() error {
	for _, d := range []struct {
		name string
		v    caddy.Duration
	}{{"idle_timeout", h.IdleTimeout}, {"max_lifetime", h.MaxLifetime}, {"lockout_duration", h.LockoutDuration},
		{"addr_window", h.AddrWindow}, {"enrolment_ttl", h.EnrolmentTTL}, {"history_interval", h.HistoryInterval}} {
		if d.v < 0 {
			return fmt.Errorf("%s: must not be negative", d.name)
		}
	}
	if h.LockoutFailures < 0 || h.AddrFailures < 0 {
		return errors.New("lockout/addr failures: must not be negative")
	}
	if h.IdleTimeout != 0 && h.MaxLifetime != 0 && h.IdleTimeout > h.MaxLifetime {
		return errors.New("idle_timeout: longer than max_lifetime")
	}
	return nil
}

// Cleanup stops the emitter and closes the store.
func (h *Handler) Cleanup() error {
	if h.stop != nil {
		h.stop()
		h.wg.Wait()
	}
	if h.svc != nil {
		return h.svc.Store.Close()
	}
	return nil
}

// clientIP is Caddy's client address (honours trusted_proxies).
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func sessionID(r *http.Request) string {
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

func setSessionCookie(w http.ResponseWriter, id string) {
	c := &http.Cookie{Name: sessionCookie, Value: id, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
	if id == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if strings.HasPrefix(r.URL.Path, Prefix) || r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		return h.serveOwn(w, r)
	}
	ss, err := h.session(w, r)
	if ss == nil {
		return err
	}
	if ss.Role != RoleUser {
		// An admin profile manages accounts; the registry UI is for user
		// profiles (the same person may hold both).
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return nil
	}
	stripOwnCookies(r)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", ss.Email)
		repl.Set("http.auth.user.role", string(ss.Role))
	}
	return next.ServeHTTP(w, r)
}

// session returns the request's live session. Without one it has
// already answered (a redirect to the login page, after recording the end
// of an expired session) and returns nil and the handler's result.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) (*Session, error) {
	ss, end, err := h.svc.CheckSession(r.Context(), sessionID(r))
	if err != nil {
		return nil, caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("checking session: %w", err))
	}
	if end == EndNone {
		return ss, nil
	}
	if end != EndMissing {
		h.recordLogout(r, ss, end)
		setSessionCookie(w, "")
	}
	return nil, redirectToLogin(w, r)
}

// redirectToLogin sends the browser to the login page, to come back to
// this page (for GET) afterwards.
func redirectToLogin(w http.ResponseWriter, r *http.Request) error {
	target := Prefix + "login"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// stripOwnCookies removes the door's cookies from the request: the
// upstream never sees a session id or CSRF value.
func stripOwnCookies(r *http.Request) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		if c.Name == sessionCookie || c.Name == csrfCookie {
			continue
		}
		r.AddCookie(c)
	}
}

// safeNext accepts only a local absolute path as the page to return to
// after login (no scheme, no host, no "//" or "/\" that a browser would
// read as another host).
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t\\") || strings.HasPrefix(next, Prefix) {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

func refusal(status int, reason, detail string) error {
	return caddyhttp.Error(status, &gate.Refusal{Module: "admin_login", Reason: reason, Detail: detail})
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
