package registryproxy

import (
	"net/http"
)

// dropResponse are the upstream's headers the client never sees: the
// hop-by-hop ones, which describe the upstream connection, not the answer,
// and the banners naming the software behind the gateway and its version
// (HAPI's and Express's X-Powered-By, Jetty's Server), which tell an
// attacker which advisories apply. The client sees the gateway's own
// Server header.
var dropResponse = map[string]bool{
	"Server":             true,
	"X-Powered-By":       true,
	"Connection":         true,
	"Proxy-Connection":   true,
	"Keep-Alive":         true,
	"Proxy-Authenticate": true,
	"Te":                 true,
	"Trailer":            true,
	"Transfer-Encoding":  true,
	"Upgrade":            true,
}

// copyResponseHeader adds the upstream's end-to-end headers to dst, after
// any the route set already (X-Request-Id), as reverse_proxy does. The
// response's header map is the parser's own, so its value slices are
// handed over, not copied.
func copyResponseHeader(dst, src http.Header) {
	listed := src["Connection"]
	for k, vv := range src {
		if dropResponse[k] || (len(listed) > 0 && connectionListed(listed, k)) {
			continue
		}
		if have := dst[k]; have != nil {
			dst[k] = append(have, vv...)
			continue
		}
		dst[k] = vv
	}
}
