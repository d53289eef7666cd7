package adminauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// maxFormBytes bounds every form the door accepts.
const maxFormBytes = 16 << 10

// loginFailed is the one message for every failed login: it does not say
// which factor was wrong, whether the account exists, is disabled or
// locked, or whether the address is throttled.
const loginFailed = "Login failed. Check your email, password, profile and code. After repeated failures the account is locked for a while."

type page struct {
	Title    string
	Notice   string
	Problems []string
	CSRF     string
}

// serveOwn answers the door's own pages under Prefix.
func (h *Handler) serveOwn(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return refusal(http.StatusBadRequest, "bad_form", "unreadable form")
		}
	} else if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, POST")
		return refusal(http.StatusMethodNotAllowed, "method", r.Method)
	}
	route := strings.TrimPrefix(r.URL.Path, Prefix)
	form := route
	switch route {
	case "login", "logout", "enrol", "password", "accounts":
	case "", "/":
		form = "home"
	default:
		return refusal(http.StatusNotFound, "unknown_page", r.URL.Path)
	}
	if r.Method == http.MethodPost && !h.checkCSRF(r, form) {
		return refusal(http.StatusForbidden, "csrf", "form token or origin check failed")
	}
	switch form {
	case "login":
		return h.serveLogin(w, r)
	case "logout":
		return h.serveLogout(w, r)
	case "enrol":
		return h.serveEnrol(w, r)
	}
	// The rest needs a session (any profile).
	ss, err := h.session(w, r)
	if ss == nil {
		return err
	}
	switch form {
	case "password":
		return h.servePassword(w, r, ss)
	case "accounts":
		if ss.Role != RoleAdmin {
			return refusal(http.StatusForbidden, "not_admin", "the account page needs an admin profile")
		}
		return h.serveAccounts(w, r, ss)
	}
	if r.Method == http.MethodPost {
		return refusal(http.StatusMethodNotAllowed, "method", r.Method)
	}
	return render(w, http.StatusOK, "home.html", struct {
		page
		Session *Session
	}{page{Title: "crgate", CSRF: h.csrfToken(w, r, "logout")}, ss})
}

type loginPage struct {
	page
	Error, Email, Role, Next string
}

func (h *Handler) serveLogin(w http.ResponseWriter, r *http.Request) error {
	p := loginPage{page: page{Title: "Log in"}, Role: string(RoleUser), Next: safeNext(r.FormValue("next"))}
	if r.URL.Query().Get("out") == "1" {
		p.Notice = "You are logged out."
	}
	if r.Method != http.MethodPost {
		p.CSRF = h.csrfToken(w, r, "login")
		return render(w, http.StatusOK, "login.html", p)
	}
	email, _ := NormalizeEmail(r.PostFormValue("email"))
	role, err := ParseRole(r.PostFormValue("role"))
	if err != nil {
		role = RoleUser
	}
	k := AccountKey{Email: email, Role: role}
	if email == "" {
		// Still spend a hash and count the address, like any failure.
		k.Email = "invalid@invalid"
	}
	res, err := h.svc.Login(r.Context(), k, r.PostFormValue("password"), r.PostFormValue("code"), clientIP(r))
	var lf *LoginFailure
	switch {
	case errors.As(err, &lf):
		loginsTotal.WithLabelValues(lf.Reason).Inc()
		if lf.Reason == ReasonNowLocked {
			lockouts.Inc()
		}
		if rerr := h.recordLogin(r, k, "", lf.Reason); rerr != nil {
			return caddyhttp.Error(http.StatusServiceUnavailable, rerr)
		}
		if ce := h.logger.Check(zap.DebugLevel, "login failed"); ce != nil {
			ce.Write(zap.String("user", k.Email), zap.String("role", string(k.Role)), zap.String("reason", lf.Reason), zap.String("client_ip", clientIP(r)))
		}
		p.Error, p.Email, p.Role = loginFailed, r.PostFormValue("email"), string(role)
		p.CSRF = h.csrfToken(w, r, "login")
		return render(w, http.StatusUnauthorized, "login.html", p)
	case err != nil:
		return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("login: %w", err))
	}
	if res.EnrolToken != "" {
		loginsTotal.WithLabelValues("enrol").Inc()
		http.Redirect(w, r, EnrolPath(res.EnrolToken), http.StatusSeeOther)
		return nil
	}
	// The login is recorded before the browser gets the session: if the
	// audit pipeline refuses the record, the session is ended unused.
	if rerr := h.recordLogin(r, k, res.Account.Name, ""); rerr != nil {
		_, _ = h.svc.Logout(r.Context(), res.SessionID)
		return caddyhttp.Error(http.StatusServiceUnavailable, rerr)
	}
	// A session this browser held before ends now: one browser, one login.
	if old := sessionID(r); old != "" {
		if _, err := h.svc.Logout(r.Context(), old); err != nil {
			return caddyhttp.Error(http.StatusServiceUnavailable, err)
		}
	}
	setSessionCookie(w, res.SessionID)
	loginsTotal.WithLabelValues("ok").Inc()
	target := p.Next
	if role == RoleAdmin {
		target = Prefix
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

func (h *Handler) serveLogout(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return refusal(http.StatusMethodNotAllowed, "method", "log out with the button (POST)")
	}
	id := sessionID(r)
	ss, end, err := h.svc.CheckSession(r.Context(), id)
	if err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	if end == EndNone {
		if _, err := h.svc.Logout(r.Context(), id); err != nil {
			return caddyhttp.Error(http.StatusServiceUnavailable, err)
		}
		h.recordLogout(r, ss, "logout")
	}
	setSessionCookie(w, "")
	http.Redirect(w, r, Prefix+"login?out=1", http.StatusSeeOther)
	return nil
}

func (h *Handler) servePassword(w http.ResponseWriter, r *http.Request, ss *Session) error {
	p := page{Title: "Change your password"}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		err := h.svc.ChangePassword(r.Context(), sessionID(r), ss.AccountKey, r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("confirm"))
		var fe *FormError
		switch {
		case errors.As(err, &fe):
			p.Problems, status = fe.Problems, http.StatusBadRequest
		case err != nil:
			return caddyhttp.Error(http.StatusServiceUnavailable, err)
		default:
			p.Notice = "Your password is changed. Your other sessions were ended."
		}
	}
	p.CSRF = h.csrfToken(w, r, "password")
	return render(w, status, "password.html", p)
}
