package adminauth

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageCSS is the only style; the Content-Security-Policy allows exactly
// this text by its hash, and nothing else (no scripts, no external files).
const pageCSS = `body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input,select{font-size:1rem;padding:.3rem;width:100%;box-sizing:border-box}
button{margin-top:1rem;font-size:1rem;padding:.4rem 1rem}.err{background:#fdd;border:1px solid #c66;padding:.5rem}
.ok{background:#dfd;border:1px solid #6c6;padding:.5rem}code{word-break:break-all}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ccc;padding:.3rem;text-align:left}td form{display:inline}td button{margin:0;padding:.1rem .4rem;font-size:.9rem}
.qr{image-rendering:pixelated;width:240px;height:240px}nav form{display:inline}`

var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"css": func() template.CSS { return template.CSS(pageCSS) },
}).ParseFS(templateFS, "templates/*.html"))

// render writes a page with the headers every page of the door carries:
// no caching (pages may show links or secrets), no framing, no referrer
// beyond this origin (enrolment links carry a token), a CSP that allows
// nothing but the page's own style and data: images.
func render(w http.ResponseWriter, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Security-Policy", pageCSP)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}
