package sim

import (
	"net/http"
)

var poweredExpress = []string{"Express"}

// opencrUIPage is the /crux admin UI shell.
var opencrUIPage = []byte("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>OpenCR</title></head>\n" +
	"<body><noscript>OpenCR admin UI (simulated by registry-sim).</noscript><div id=\"app\"></div></body></html>\n")

// FakeOpenCRToken is what /ocrux/user/authenticate hands out: a JWT-shaped
// string that means nothing.
const FakeOpenCRToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyZWdpc3RyeS1zaW0iLCJyb2xlIjoiQWRtaW4ifQ.cmVnaXN0cnktc2ltLW5vdC1hLXNpZ25hdHVyZQ"

// opencr answers the OpenCR Node server's own routes.
func opencr(w http.ResponseWriter, r *http.Request, p string) bool {
	switch {
	case hasPathPrefix(p, "/crux"):
		w.Header()["X-Powered-By"] = poweredExpress
		writeBytes(w, http.StatusOK, ctHTML, opencrUIPage)
	case p == "/ocrux/user/authenticate" && r.Method == http.MethodPost:
		w.Header()["X-Powered-By"] = poweredExpress
		writeJSON(w, http.StatusOK, ctJSON, `{"token":"`+FakeOpenCRToken+`","role":"Admin","userID":"registry-sim-admin","username":"admin"}`)
	case hasPathPrefix(p, "/ocrux"), hasPathPrefix(p, "/match"), hasPathPrefix(p, "/user"),
		hasPathPrefix(p, "/csv"), hasPathPrefix(p, "/config"), p == "/updateConfig":
		// Any method: the gateway has to refuse these, and a 200 makes it
		// plain when it did not.
		w.Header()["X-Powered-By"] = poweredExpress
		b := []byte(`{"ok":true,"route":`)
		b = appendJSONString(b, p)
		b = append(b, `,"method":`...)
		b = appendJSONString(b, r.Method)
		b = append(b, '}')
		writeBytes(w, http.StatusOK, ctJSON, b)
	default:
		return false
	}
	return true
}
