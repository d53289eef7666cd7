package audit

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// maxRequestIDLen bounds a client-given X-Request-Id.
const maxRequestIDLen = 128

// requestID returns the request's X-Request-Id, minting one (and setting
// it on the request, for the upstream) when the client sent none, several,
// or one too long or with characters outside [A-Za-z0-9._:-]. Such a
// value goes into the audit trail and the registry's logs, so nothing
// there can be used to inject lines or markup.
func requestID(r *http.Request) string {
	vals := r.Header["X-Request-Id"]
	if len(vals) == 1 && validRequestID(vals[0]) {
		return vals[0]
	}
	id := newUUID()
	r.Header["X-Request-Id"] = []string{id}
	return id
}

func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == ':' || c == '-':
		default:
			return false
		}
	}
	return true
}

// captureFormBody returns up to limit bytes of a form-encoded request
// body and puts them back in front of the rest, so the upstream receives
// the body unchanged.
func captureFormBody(r *http.Request, limit int) string {
	if limit <= 0 || r.Body == nil || r.Body == http.NoBody {
		return ""
	}
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/x-www-form-urlencoded") {
		return ""
	}
	buf := make([]byte, limit)
	n, _ := io.ReadFull(r.Body, buf)
	// A read error stays with the rest of the body, where the upstream
	// request meets it.
	r.Body = &prefixedBody{Reader: io.MultiReader(bytes.NewReader(buf[:n]), r.Body), Closer: r.Body}
	return string(buf[:n])
}

type prefixedBody struct {
	io.Reader
	io.Closer
}
