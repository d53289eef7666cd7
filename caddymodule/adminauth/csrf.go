package adminauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// csrfCookie holds a random value per browser; each form carries
// HMAC(key, value|form), so a page on another origin can neither read nor
// forge the token. Together with SameSite=Strict cookies and Go's
// cross-origin check (Sec-Fetch-Site / Origin against Host) on every POST.
const csrfCookie = "__Host-crgate_csrf"

func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request, form string) string {
	v := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		v = c.Value
	} else {
		v = randomToken(32)
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		// The form being rendered must verify on this request's cookie.
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	}
	return h.csrfMAC(v, form)
}

func (h *Handler) csrfMAC(cookie, form string) string {
	m := hmac.New(sha256.New, h.secrets.csrfKey)
	m.Write([]byte(cookie + "|" + form))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF verifies a POST: cross-origin check, then the form token.
func (h *Handler) checkCSRF(r *http.Request, form string) bool {
	if err := h.crossOrigin.Check(r); err != nil {
		return false
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(h.csrfMAC(c.Value, form)))
}
