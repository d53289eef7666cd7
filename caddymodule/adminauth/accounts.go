package adminauth

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

type accountOp struct{ Email, Op, Label string }

type accountRow struct {
	*Account
	Locked bool
	Ops    []accountOp
}

type accountsPage struct {
	page
	Accounts []accountRow
	Link     string
	LinkFor  string
	LinkTTL  string
}

// serveAccounts is the admin profile's page: list, create, disable and
// enable `user` accounts and issue enrolment links. Admin accounts are
// managed only with `crgate users` on the host.
func (h *Handler) serveAccounts(w http.ResponseWriter, r *http.Request, ss *Session) error {
	ctx := r.Context()
	p := accountsPage{page: page{Title: "User accounts"}, LinkTTL: h.svc.Rules.EnrolmentTTL.String()}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		actor := ss.Email + " (admin)"
		email, err := NormalizeEmail(r.PostFormValue("email"))
		if err != nil {
			p.Problems, status = []string{err.Error()}, http.StatusBadRequest
		} else {
			k := AccountKey{Email: email, Role: RoleUser}
			var tok string
			switch r.PostFormValue("op") {
			case "create":
				tok, err = h.svc.CreateAccount(ctx, email, r.PostFormValue("name"), RoleUser, actor)
				if errors.Is(err, ErrExists) {
					err = &FormError{Problems: []string{email + " already has a user account"}}
				}
			case "disable", "enable":
				st := StatusDisabled
				if r.PostFormValue("op") == "enable" {
					st = StatusActive
				}
				_, err = h.svc.Store.SetStatus(ctx, k, st, actor, h.svc.Now())
				if err == nil {
					p.Notice = fmt.Sprintf("%s is now %s.", email, st)
				}
			case "reset-password":
				tok, err = h.svc.ResetPassword(ctx, k, actor)
			case "reset-2fa":
				tok, err = h.svc.ResetTOTP(ctx, k, actor)
			case "link":
				tok, err = h.svc.IssueEnrolment(ctx, k, actor)
			default:
				return refusal(http.StatusBadRequest, "bad_form", "unknown operation")
			}
			var fe *FormError
			switch {
			case errors.As(err, &fe):
				p.Problems, status = fe.Problems, http.StatusBadRequest
			case errors.Is(err, ErrNotFound):
				p.Problems, status = []string{email + " has no user account"}, http.StatusBadRequest
			case err != nil:
				return caddyhttp.Error(http.StatusServiceUnavailable, err)
			}
			if tok != "" {
				p.Link, p.LinkFor = "https://"+r.Host+EnrolPath(tok), email
			}
			h.kickEmitter()
		}
	}
	list, err := h.svc.Store.ListAccounts(ctx, RoleUser)
	if err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	now := h.svc.Now()
	for _, a := range list {
		row := accountRow{Account: a, Locked: now.Before(a.LockedUntil)}
		if a.Status == StatusActive {
			row.Ops = append(row.Ops, accountOp{a.Email, "disable", "Disable"}, accountOp{a.Email, "reset-password", "Reset password"}, accountOp{a.Email, "reset-2fa", "Reset 2FA"})
			if !a.Enrolled() {
				row.Ops = append(row.Ops, accountOp{a.Email, "link", "New enrolment link"})
			}
		} else {
			row.Ops = append(row.Ops, accountOp{a.Email, "enable", "Enable"})
		}
		p.Accounts = append(p.Accounts, row)
	}
	p.CSRF = h.csrfToken(w, r, "accounts")
	return render(w, status, "accounts.html", p)
}

// EnrolPath is the path of the enrolment page for token.
func EnrolPath(token string) string { return Prefix + "enrol?t=" + token }
