package registryproxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"golang.org/x/net/http/httpguts"
)

// dropRequest are the client's headers the upstream never sees: the
// hop-by-hop headers of RFC 9110 §7.6.1 (and the obsolete ones proxies
// still meet), the framing headers the gateway writes itself, Expect (the
// body is sent at once), every header a server or framework reads a
// client's address from (only the gateway may say where a request came
// from), and the headers some frameworks take as the request's real URL
// (the path was judged as sent; a second path must not reach the
// upstream). Every X-Forwarded-* header is dropped too (forwardedPrefix).
// Keys are canonical, as net/http stores them.
var dropRequest = map[string]bool{
	"Connection":          true,
	"Proxy-Connection":    true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
	"Content-Length":      true,
	"Host":                true,
	"Expect":              true,
	"Forwarded":           true,
	"X-Forwarded":         true,
	"X-Real-Ip":           true,
	"True-Client-Ip":      true,
	"X-Client-Ip":         true,
	"Client-Ip":           true,
	"Cf-Connecting-Ip":    true,
	"Fastly-Client-Ip":    true,
	"X-Cluster-Client-Ip": true,
	"X-Originating-Ip":    true,
	"X-Original-Url":      true,
	"X-Original-Uri":      true,
	"X-Rewrite-Url":       true,
}

// forwardedPrefix starts the headers a proxy describes the client's
// connection with: X-Forwarded-For, -Host and -Proto, which the gateway
// writes itself, and the ones servers behind it may also read to build
// links or decide on the scheme (HAPI's address strategy and Spring read
// X-Forwarded-Prefix and -Port; Tomcat -By; others -Ssl, -Scheme, -Uri).
const forwardedPrefix = "X-Forwarded-"

// dropRequestHeader reports whether the client's header k (canonical)
// stays at the gateway. A name spelled with '_' for '-' is judged as the
// '-' spelling: CGI-style servers read both as the same variable
// (X_Forwarded_Host and X-Forwarded-Host are both HTTP_X_FORWARDED_HOST).
func dropRequestHeader(k string) bool {
	if strings.IndexByte(k, '_') >= 0 {
		k = http.CanonicalHeaderKey(strings.ReplaceAll(k, "_", "-"))
	}
	return dropRequest[k] || strings.HasPrefix(k, forwardedPrefix)
}

// errInvalidHeader is a header a module put in the request that cannot go
// on the wire (a CR or LF would split it into two).
var errInvalidHeader = errors.New("request header not valid on the wire")

// heads are buffers for request heads.
var heads = sync.Pool{New: func() any { b := make([]byte, 0, bufSize); return &b }}

// validTarget reports whether the request target can go on the request
// line as it is: visible ASCII only, so nothing can end the line early or
// smuggle a second request.
func validTarget(s string) bool {
	if s == "" || s[0] != '/' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// appendHead appends the upstream request's head to b. connTokens are the
// header names the client's Connection header listed, which are
// hop-by-hop too.
func appendHead(b []byte, r *http.Request, target string) ([]byte, error) {
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	listed := r.Header["Connection"]
	for k, vv := range r.Header {
		if dropRequestHeader(k) || (len(listed) > 0 && connectionListed(listed, k)) {
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return b, errInvalidHeader
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return b, errInvalidHeader
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ip != "" && httpguts.ValidHeaderFieldValue(ip) {
		b = append(b, "X-Forwarded-For: "...)
		b = append(b, ip...)
		b = append(b, "\r\n"...)
	}
	if r.TLS != nil {
		b = append(b, "X-Forwarded-Proto: https\r\n"...)
	} else {
		b = append(b, "X-Forwarded-Proto: http\r\n"...)
	}
	b = append(b, "X-Forwarded-Host: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	switch {
	case !hasBody(r):
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			b = append(b, "Content-Length: 0\r\n"...)
		}
	case r.ContentLength > 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.ContentLength, 10)
		b = append(b, "\r\n"...)
	default:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	return append(b, "\r\n"...), nil
}

// connectionListed reports whether the canonical header name k is one of
// the tokens of the Connection header values.
func connectionListed(values []string, k string) bool {
	for _, v := range values {
		for _, tok := range splitTokens(v) {
			if http.CanonicalHeaderKey(tok) == k {
				return true
			}
		}
	}
	return false
}

func splitTokens(v string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == ',' {
			tok := v[start:i]
			for len(tok) > 0 && (tok[0] == ' ' || tok[0] == '\t') {
				tok = tok[1:]
			}
			for len(tok) > 0 && (tok[len(tok)-1] == ' ' || tok[len(tok)-1] == '\t') {
				tok = tok[:len(tok)-1]
			}
			if tok != "" {
				out = append(out, tok)
			}
			start = i + 1
		}
	}
	return out
}

// hasBody reports whether the request carries a body to forward.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// clientBody records the error reading the client's body, so a failure
// there is told apart from one writing to the upstream.
type clientBody struct {
	r   io.Reader
	err error
}

func (c *clientBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// writeBody sends the request body after the head: exactly ContentLength
// bytes, or chunked when the length is unknown.
func writeBody(c *upstreamConn, r *http.Request) (clientErr, err error) {
	body := &clientBody{r: r.Body}
	if r.ContentLength > 0 {
		n, err := io.Copy(c.bw, io.LimitReader(body, r.ContentLength))
		if body.err != nil {
			return body.err, nil
		}
		if err != nil {
			return nil, err
		}
		if n < r.ContentLength {
			return io.ErrUnexpectedEOF, nil
		}
		return nil, nil
	}
	cw := httputil.NewChunkedWriter(c.bw)
	if _, err := io.Copy(cw, body); body.err != nil {
		return body.err, nil
	} else if err != nil {
		return nil, err
	}
	if err := cw.Close(); err != nil {
		return nil, err
	}
	_, err = c.bw.WriteString("\r\n")
	return nil, err
}
