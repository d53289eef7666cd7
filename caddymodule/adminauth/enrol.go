package adminauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/skip2/go-qrcode"
)

type enrolPage struct {
	page
	Token      string
	View       *EnrolmentView
	QR         template.URL // data: URI of a PNG (typed so html/template keeps it)
	SecretText string
}

// qrDataURI renders text as a QR code PNG in a data: URI, server-side: no
// script, no external service ever sees the secret.
func qrDataURI(text string) (template.URL, error) {
	png, err := qrcode.Encode(text, qrcode.Medium, 240)
	if err != nil {
		return "", fmt.Errorf("rendering QR code: %w", err)
	}
	// Our own base64 PNG, so safe as a URL; html/template would otherwise
	// replace any data: URL with "#ZgotmplZ".
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), nil
}

// serveEnrol is the one-time enrolment page (the link `crgate users add`
// and the account page hand out): the person sets their password and/or
// enrols TOTP, proving the factor they still have when one is kept.
func (h *Handler) serveEnrol(w http.ResponseWriter, r *http.Request) error {
	token := r.FormValue("t")
	p := enrolPage{page: page{Title: "Set up your login"}, Token: token}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		a, err := h.svc.CompleteEnrolment(r.Context(), token, r.PostFormValue("new"), r.PostFormValue("confirm"), r.PostFormValue("current"), r.PostFormValue("code"))
		var fe *FormError
		switch {
		case errors.Is(err, EnrolmentErr):
			return h.enrolGone(w)
		case errors.As(err, &fe):
			p.Problems, status = fe.Problems, http.StatusBadRequest
		case err != nil:
			return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("enrolment: %w", err))
		default:
			h.kickEmitter()
			return render(w, http.StatusOK, "message.html", struct {
				page
				Message, Link string
			}{page{Title: "All set"}, fmt.Sprintf("Your login for %s (%s) is ready. The key is not shown again.", a.Email, a.Role), Prefix + "login"})
		}
	}
	v, err := h.svc.OpenEnrolment(r.Context(), token, false)
	if errors.Is(err, EnrolmentErr) {
		return h.enrolGone(w)
	}
	if err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("enrolment: %w", err))
	}
	p.View = v
	if v.NeedTOTP {
		if p.QR, err = qrDataURI(totpURI(h.Issuer, v.Account.Email+" ("+string(v.Account.Role)+")", v.Secret)); err != nil {
			return caddyhttp.Error(http.StatusInternalServerError, err)
		}
		p.SecretText = totpSecretText(v.Secret)
	}
	p.CSRF = h.csrfToken(w, r, "enrol")
	return render(w, status, "enrol.html", p)
}

func (h *Handler) enrolGone(w http.ResponseWriter) error {
	return render(w, http.StatusGone, "message.html", struct {
		page
		Message, Link string
	}{page{Title: "Link not valid"}, EnrolmentErr.Error(), ""})
}
